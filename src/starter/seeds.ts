/**
 * Seed phrases for the starter model's initial head: short templates per category plus benign text.
 *
 * This is deliberately crude: it gives a fresh install a head that reacts sensibly to obvious text, and
 * moderators' verdicts (DPO tuning) do the real work afterwards. Hateful content is represented by
 * dehumanising and hostile vocabulary aimed at "those people"/"your kind", never by naming a protected
 * group, so the model does not learn that the mere mention of a group is a signal. No slurs.
 *
 * Templates use `{slot}` placeholders filled from {@link SLOTS}; `training-set.ts` expands them.
 */
import type { OpenAICategory } from '../policy/categories.js';

export interface SeedGroup {
  /** What every phrase of the group is; parent categories are added by {@link withParents}. */
  labels: OpenAICategory[];
  templates: string[];
  /** Most phrases drawn from one template (default: the synthetic set's `perTemplate`). */
  perTemplate?: number;
}

/** Hierarchical categories: an example of the key is also an example of each listed category. */
export const PARENTS: Partial<Record<OpenAICategory, OpenAICategory[]>> = {
  'harassment/threatening': ['harassment'],
  'hate/threatening': ['hate', 'violence'],
  'illicit/violent': ['illicit'],
  'self-harm/intent': ['self-harm'],
  'self-harm/instructions': ['self-harm'],
  'sexual/minors': ['sexual'],
  'violence/graphic': ['violence'],
};

export function withParents(labels: Iterable<OpenAICategory>): Set<OpenAICategory> {
  const out = new Set<OpenAICategory>();
  const visit = (c: OpenAICategory): void => {
    if (out.has(c)) return;
    out.add(c);
    for (const p of PARENTS[c] ?? []) visit(p);
  };
  for (const c of labels) visit(c);
  return out;
}

export const SLOTS: Record<string, readonly string[]> = {
  insultAdj: [
    'stupid', 'dumb', 'pathetic', 'worthless', 'ugly', 'useless', 'disgusting', 'idiotic', 'brainless',
    'clueless', 'incompetent', 'miserable', 'lazy', 'fat', 'gross', 'annoying', 'spineless',
  ],
  insultNoun: [
    'idiot', 'moron', 'loser', 'jerk', 'clown', 'fool', 'imbecile', 'creep', 'freak', 'coward', 'failure',
    'asshole', 'bastard', 'scumbag', 'piece of shit', 'piece of garbage', 'waste of space', 'joke',
  ],
  harm: [
    'kill', 'murder', 'hurt', 'stab', 'shoot', 'strangle', 'choke', 'beat', 'punch', 'slaughter', 'burn',
    'butcher', 'break', 'smash', 'torture',
  ],
  harmed: ['killed', 'murdered', 'hurt', 'stabbed', 'shot', 'strangled', 'beaten', 'slaughtered', 'tortured'],
  groupRef: [
    'those people', 'their kind', 'your kind', 'people like them', 'all of them', 'your people', 'these people',
    'people like you', 'that whole lot',
  ],
  dehumanised: [
    'vermin', 'animals', 'rats', 'cockroaches', 'parasites', 'savages', 'subhuman', 'filth', 'scum', 'a disease',
    'a plague', 'an infestation', 'degenerates', 'inferior', 'trash', 'a cancer', 'not human', 'beasts',
  ],
  exterminate: ['exterminate', 'wipe out', 'eradicate', 'kill', 'purge', 'slaughter', 'get rid of', 'hang', 'burn'],
  exterminated: ['exterminated', 'wiped out', 'eradicated', 'killed', 'purged', 'slaughtered', 'hanged', 'burned'],
  illicitAct: [
    'buy cocaine', 'buy heroin', 'sell drugs', 'buy meth', 'cook meth', 'make meth', 'sell cocaine',
    'launder money', 'shoplift', 'steal a car', 'hotwire a car', 'break into a house', 'hack into an email account',
    'steal credit card numbers', 'make counterfeit money', 'forge a passport', 'evade taxes', 'smuggle drugs',
    'buy stolen goods', 'scam old people', 'bribe a police officer', 'buy a fake id', 'steal someone\'s identity',
    'sell stolen phones', 'get drugs without a prescription', 'buy weed illegally', 'pick a lock to rob a house',
    'steal from a store', 'buy ecstasy', 'buy lsd', 'sell heroin',
  ],
  violentIllicitAct: [
    'make a bomb', 'build a pipe bomb', 'make explosives at home', 'buy a gun without a background check',
    'make an untraceable gun', 'make a silencer', 'buy illegal weapons', 'make a molotov cocktail', 'make napalm',
    'hire a hitman', 'build a bomb', 'make a grenade', 'smuggle guns', 'buy an assault rifle illegally',
    'make poison gas', 'make ricin',
  ],
  selfHarmAct: [
    'kill myself', 'end my life', 'commit suicide', 'hang myself', 'slit my wrists', 'cut myself',
    'overdose on pills', 'take my own life', 'end it all', 'hurt myself', 'jump off a bridge', 'starve myself',
    'die',
  ],
  selfHarmHow: [
    'kill yourself', 'kill myself', 'commit suicide', 'end your life', 'hang yourself', 'overdose',
    'slit your wrists', 'cut yourself', 'hide self harm scars', 'starve yourself', 'die painlessly',
    'take your own life',
  ],
  sexAct: ['have sex', 'make love', 'hook up', 'fuck', 'sleep', 'get naked'],
  sexContent: [
    'nude pictures', 'naked photos', 'porn', 'porn videos', 'sex videos', 'nudes', 'erotic videos', 'xxx videos',
    'explicit photos', 'sex tapes', 'hardcore porn', 'nude photos',
  ],
  minor: [
    'children', 'a child', 'kids', 'a minor', 'minors', 'underage girls', 'underage boys', 'a little girl',
    'a little boy', 'a twelve year old', 'young teens', 'preteens', 'an underage kid',
  ],
  person: ['the man', 'the woman', 'his neighbor', 'her husband', 'the guard', 'a stranger', 'the boy', 'the victim'],
  dailyActivity: [
    'go to the gym', 'take a nap', 'visit my parents', 'cook dinner', 'watch a movie', 'learn to swim', 'read a book',
    'go shopping', 'call my mom', 'finish my homework', 'clean the house', 'walk the dog', 'play video games',
    'start a new job', 'travel to spain', 'fix my bike', 'bake cookies', 'go to bed early', 'paint the kitchen',
    'write a letter', 'study for the exam', 'buy a new car', 'plant some flowers', 'go for a run', 'meet my friends',
    'take a shower', 'go home', 'eat lunch', 'try again tomorrow', 'ask for a raise',
  ],
  kindVerb: [
    'help', 'call', 'text', 'email', 'visit', 'thank', 'meet', 'miss', 'support', 'pay', 'teach', 'hug', 'remember',
    'pick up', 'drive', 'invite', 'forgive', 'love', 'see',
  ],
  everydayTask: [
    'buy a used car', 'make bread', 'learn python', 'fix a leaking tap', 'lose weight', 'save money', 'grow tomatoes',
    'write a resume', 'buy concert tickets', 'clean an oven', 'train a puppy', 'make a website', 'sell my old phone',
    'get a passport', 'file my taxes', 'open a bank account', 'cook pasta', 'change a tire', 'sleep better',
    'make friends', 'start a business', 'make a cake', 'build a bookshelf', 'get rid of weeds', 'buy cold medicine',
    'kill weeds in the garden', 'cut my own hair', 'buy a house', 'make coffee', 'get a driving license',
  ],
  praiseAdj: [
    'kind', 'smart', 'funny', 'brilliant', 'helpful', 'wonderful', 'talented', 'generous', 'amazing', 'sweet',
    'clever', 'brave', 'friendly', 'thoughtful', 'right', 'busy', 'late', 'tired',
  ],
  praiseNoun: ['friend', 'genius', 'hero', 'star', 'legend', 'champion', 'teacher', 'neighbor', 'person', 'cook'],
  youngPeople: [
    'my kids', 'the children', 'our son', 'my daughter', 'the little boy', 'a little girl', 'young teens',
    'the students', 'the baby', 'kids', 'my nephew', 'the teenagers',
  ],
  childActivity: [
    'love ice cream', 'are playing in the park', 'went to school', 'are drawing pictures', 'are learning to read',
    'play soccer on weekends', 'had a birthday party', 'are sleeping', 'sang in the choir', 'built a sand castle',
    'need new shoes', 'are on summer vacation',
  ],
  ordinaryContent: [
    'the photos from the trip', 'funny cat videos', 'the report', 'holiday pictures', 'the slides', 'cooking videos',
    'music videos', 'the meeting notes', 'movie tickets', 'your address', 'the invoice', 'baby photos',
  ],
  identity: [
    'gay', 'lesbian', 'bisexual', 'transgender', 'trans', 'queer', 'straight', 'muslim', 'jewish', 'christian',
    'catholic', 'hindu', 'buddhist', 'sikh', 'atheist', 'black', 'white', 'asian', 'latino', 'hispanic', 'african',
    'arab', 'indian', 'chinese', 'mexican', 'native', 'disabled', 'deaf', 'blind', 'autistic', 'old', 'young',
    'female', 'male',
  ],
  people: [
    'women', 'men', 'girls', 'boys', 'teenage girls', 'teenage boys', 'young girls', 'immigrants', 'refugees',
    'gay people', 'trans people', 'black people', 'white people', 'muslims', 'jews', 'christians', 'lesbians',
    'disabled people', 'older people', 'teenagers', 'students', 'children', 'kids', 'a woman', 'a man', 'a girl',
    'a boy', 'a teenager', 'a mother',
  ],
  kindPast: ['hugged', 'helped', 'called', 'thanked', 'met', 'visited', 'married', 'paid', 'greeted', 'interviewed'],
  gore: [
    'blood splattered everywhere', 'his guts spilled out', 'her skull was crushed', 'brains splattered on the wall',
    'the mutilated corpse was covered in blood', 'the flesh was torn from the bones', 'his intestines hung out',
    'a severed head', 'dismembered body parts', 'blood and gore', 'his eyes were gouged out',
    'the body was cut into pieces', 'bones snapped and blood gushed', 'entrails everywhere',
  ],
};

export const TOXIC_GROUPS: readonly SeedGroup[] = [
  {
    labels: ['harassment'],
    templates: [
      'you are {insultAdj}', 'you are such a {insultNoun}', 'you {insultAdj} {insultNoun}',
      'shut up you {insultAdj} {insultNoun}', 'nobody likes you, {insultNoun}', 'what a {insultAdj} {insultNoun}',
      'go away, {insultNoun}', 'everyone thinks you are a {insultNoun}', 'you are a {insultAdj} {insultNoun}',
      'you are the most {insultAdj} person I know', 'get lost, {insultNoun}', 'your face is {insultAdj}',
      'fuck you, {insultNoun}', 'fuck off', 'screw you', 'you make me sick', 'nobody will ever love you',
      'you are a waste of space', 'kiss my ass', 'you should be ashamed of yourself, {insultNoun}',
      'lol you are so {insultAdj}', 'stop talking, {insultNoun}', 'you are {insultAdj} and everyone hates you',
    ],
  },
  {
    labels: ['harassment/threatening', 'violence'],
    templates: [
      'I will {harm} you', 'I am going to {harm} you', "I'm going to {harm} you", 'I will find you and {harm} you',
      'I know where you live and I will {harm} you', 'if I see you again I will {harm} you',
      'watch your back, I will {harm} you', 'someone should {harm} you', 'you are going to get {harmed}',
      'I will {harm} you and your family', 'you will be {harmed}', 'I swear I will {harm} you',
      'next time I see you I will {harm} you', 'I want to {harm} you', 'you deserve to be {harmed}',
      'I hope you die', 'you are dead', 'you will die', 'I will make you suffer', 'I will end you',
      'I will break your legs', 'I will beat you up', 'I will put a bullet in your head',
    ],
  },
  {
    labels: ['harassment/threatening'],
    templates: [
      'I will ruin your life', 'you will regret this', 'I know where you live', 'watch your back',
      'I will make you pay for this', 'you better watch out, {insultNoun}', 'I will make your life hell',
      'I am coming for you', 'sleep with one eye open', 'I will destroy you', 'you will pay for this, {insultNoun}',
    ],
  },
  {
    labels: ['hate'],
    templates: [
      '{groupRef} are {dehumanised}', '{groupRef} are nothing but {dehumanised}', '{groupRef} are {dehumanised} and {dehumanised}',
      '{groupRef} do not deserve rights', '{groupRef} should go back where they came from',
      'we do not want {groupRef} here', '{groupRef} are ruining our country', '{groupRef} are genetically inferior',
      '{groupRef} are not real humans', 'I hate {groupRef}, they are {dehumanised}', '{groupRef} breed like {dehumanised}',
      '{groupRef} are a disease on society', 'keep {groupRef} out, they are {dehumanised}',
      '{groupRef} are dirty {dehumanised}', 'never trust {groupRef}, they are {dehumanised}',
    ],
  },
  {
    labels: ['hate/threatening'],
    templates: [
      'we should {exterminate} {groupRef}', '{groupRef} must be {exterminated}', 'kill all of {groupRef}',
      '{groupRef} deserve to die', 'time to {exterminate} {groupRef}', 'round up {groupRef} and {exterminate} them',
      '{groupRef} should be {exterminated} like {dehumanised}', 'burn down their homes and drive {groupRef} out',
      '{exterminate} {groupRef}, they are {dehumanised}', 'cleanse the land of {groupRef}',
      'we will {exterminate} {groupRef}',
    ],
  },
  {
    labels: ['illicit'],
    templates: [
      'how to {illicitAct}', 'how can I {illicitAct}', 'where can I {illicitAct}', 'how do I {illicitAct}',
      'best way to {illicitAct} without getting caught', 'teach me how to {illicitAct}',
      'tips to {illicitAct}', 'I want to {illicitAct}, help me', 'step by step guide to {illicitAct}',
      'where to buy cocaine online', 'selling cocaine and heroin, message me', 'cheap meth for sale',
      'I sell drugs, hit me up', 'who sells heroin around here',
    ],
  },
  {
    labels: ['illicit/violent'],
    templates: [
      'how to {violentIllicitAct}', 'how can I {violentIllicitAct}', 'where can I {violentIllicitAct}',
      'step by step instructions to {violentIllicitAct}', 'teach me how to {violentIllicitAct}',
      'easiest way to {violentIllicitAct}', 'I need to {violentIllicitAct}, tell me how',
    ],
  },
  {
    labels: ['illicit/violent', 'violence'],
    templates: [
      'how to poison someone without getting caught', 'how to get away with murder', 'how to kidnap someone',
      'how to kill someone and hide the body', 'how to hurt someone without leaving marks',
      'how can I kill my neighbor', 'best way to murder someone',
    ],
  },
  {
    labels: ['self-harm'],
    templates: [
      'she cuts herself every night', 'he tried to kill himself', 'self harm scars on my arms',
      'I have been cutting myself', 'I keep thinking about suicide', 'I have suicidal thoughts',
      'I starve myself so I can be thin', 'I hurt myself when I am sad', 'my wrists are bleeding from cutting',
      'I burn myself with cigarettes', 'I relapsed and cut again', 'my friend is suicidal',
      'I took too many pills last night', 'I punish myself by not eating',
    ],
  },
  {
    labels: ['self-harm/intent'],
    templates: [
      'I want to {selfHarmAct}', 'I am going to {selfHarmAct} tonight', "I'm going to {selfHarmAct}",
      'I will {selfHarmAct}', 'I plan to {selfHarmAct}', "I can't go on, I want to {selfHarmAct}",
      'tonight I will {selfHarmAct}', 'I am ready to {selfHarmAct}', 'I just want to {selfHarmAct}',
      'I wish I was dead', 'I want to die', "I don't want to live anymore", 'nobody would miss me if I died',
      'I have decided to {selfHarmAct}', 'I feel like I need to {selfHarmAct}',
    ],
  },
  {
    labels: ['self-harm/instructions'],
    templates: [
      'how to {selfHarmHow}', 'what is the best way to {selfHarmHow}', 'most painless way to {selfHarmHow}',
      'easiest way to {selfHarmHow}', 'how many pills does it take to {selfHarmHow}', 'quickest way to {selfHarmHow}',
      'how deep should I cut', 'which pills can I overdose on', 'how much of this drug is a lethal dose',
      'tips to {selfHarmHow}', 'how to tie a noose',
    ],
  },
  {
    labels: ['sexual'],
    templates: [
      'I want to {sexAct} with you', 'send me {sexContent}', 'watch {sexContent}', 'free {sexContent}',
      'looking for {sexContent}', 'let\'s {sexAct} tonight', 'I am so horny', 'she took off her clothes and they had sex',
      'erotic story about two lovers in bed', 'explicit sex scene', 'hot naked girls', 'I want to see you naked',
      'talk dirty to me', 'he touched her breasts', 'we had sex all night', 'I love {sexContent}',
      'masturbating while watching {sexContent}', 'orgasm', 'sexy naked photos of me',
    ],
  },
  {
    labels: ['sexual/minors'],
    templates: [
      'sex with {minor}', 'nude photos of {minor}', '{minor} porn', 'naked {minor}', 'sexy {minor}',
      'I want to have sex with {minor}', 'send me nudes of {minor}', 'erotic pictures of {minor}',
    ],
  },
  {
    labels: ['violence'],
    templates: [
      'he {harmed} {person}', 'they {harmed} {person}', 'the gunman shot twenty people', 'they beat him to death',
      'soldiers massacred the villagers', 'she stabbed her husband', 'I want to kill him', 'kill them all',
      'let\'s go beat someone up', 'I will shoot up the school', 'the bomb killed dozens of people',
      'he was murdered in cold blood', 'they tortured the prisoners', 'I am going to {harm} {person}',
      'I will {harm} {person}', 'we should {harm} {person}', 'he wants to {harm} {person}', 'shoot them all',
      'he strangled her until she stopped breathing', 'the mob attacked and killed him',
      'I will stab him', 'burn the building with them inside',
    ],
  },
  {
    labels: ['violence/graphic'],
    templates: [
      '{gore}', 'after the crash {gore}', 'he stabbed the man again and again, {gore}', 'the video shows {gore}',
      'I cut him open and {gore}', 'when the bomb exploded {gore}', 'they tortured him until {gore}',
    ],
  },
];

/**
 * Ordinary phrases built on the same frames as the toxic templates ("I am going to …", "how to …",
 * "you are …"), so the head has to look at the words that fill the frame rather than at the frame.
 */
export const BENIGN_GROUPS: readonly SeedGroup[] = [
  {
    labels: [],
    templates: [
      'I am going to {dailyActivity}', "I'm going to {dailyActivity}", 'I will {dailyActivity}',
      'I want to {dailyActivity}', 'I plan to {dailyActivity}', 'tonight I will {dailyActivity}',
      'I just want to {dailyActivity}', 'I have decided to {dailyActivity}', 'I am ready to {dailyActivity}',
      'I feel like I need to {dailyActivity}', 'I will {kindVerb} you', 'I am going to {kindVerb} you',
      'I will {kindVerb} you and your family', 'next time I see you I will {kindVerb} you', 'I want to {kindVerb} you',
      'I will find you a {praiseNoun}', 'I know where you live, I will {kindVerb} you tomorrow',
      'how to {everydayTask}', 'how can I {everydayTask}', 'where can I {everydayTask}', 'how do I {everydayTask}',
      'best way to {everydayTask}', 'step by step guide to {everydayTask}', 'teach me how to {everydayTask}',
      'tips to {everydayTask}', 'easiest way to {everydayTask}', 'what is the best way to {everydayTask}',
      'you are {praiseAdj}', 'you are such a {praiseNoun}', 'what a {praiseAdj} {praiseNoun}',
      'you are the most {praiseAdj} person I know', 'everyone thinks you are {praiseAdj}', 'you are a {praiseAdj} {praiseNoun}',
      '{groupRef} are {praiseAdj}', 'we welcome {groupRef} here', '{groupRef} are my friends',
      '{youngPeople} {childActivity}', 'send me {ordinaryContent}', 'watch {ordinaryContent}', 'I love {ordinaryContent}',
      'looking for {ordinaryContent}', 'he {kindPast} {person}', 'they {kindPast} {person}',
    ],
  },
  {
    // Identity terms are neutral. Word vectors learned from news and the web place some of them near sexual
    // or hostile words ("gay" next to "sex", "girls" next to "teen"), and a linear head would inherit that;
    // these counter-examples push the head off those directions.
    labels: [],
    perTemplate: 40,
    templates: [
      '{identity}', 'I am {identity}', 'my friend is {identity}', 'proud to be {identity}', 'my sister is {identity}',
      'she is {identity} and works as a nurse', 'he is {identity} and plays football', 'my {identity} neighbor',
      'a {identity} couple adopted a child', '{identity} parents and their kids', 'the {identity} couple got married',
      '{people}',
      '{people} are welcome here', 'a group of {people} met at the library', 'support for {people}',
      'the rights of {people}', '{people} played in the park', 'a club for {people}', 'equal pay for {people}',
      'sexual health clinic', 'sexual orientation', 'sex education class', 'the girls soccer team',
      'boys and girls club', 'girls night out', 'gay marriage was legalized', 'pride parade this weekend',
    ],
  },
];

/**
 * Ordinary text, including hard negatives that share words with the toxic seeds ("kill the process",
 * "my kids"), so that a single word alone does not decide a category.
 */
export const BENIGN_PHRASES: readonly string[] = [
  'have a good one', 'thanks for your help, see you next week', 'the weather is nice', 'hello', 'hi there',
  'good morning everyone', 'good night', 'thank you so much', 'ok', 'sounds good', 'see you later', 'lol',
  'happy birthday!', 'congratulations on the new job', 'what time is the meeting?', 'I will be there at five',
  'can you send me the report?', 'the train was late again', 'I love this song', 'that movie was great',
  'let us grab lunch tomorrow', 'my cat is sleeping on the couch', 'the kids are playing in the park',
  'our children go to the local school', 'my son scored a goal in his soccer game', 'the baby is learning to walk',
  'we took the kids to the zoo', 'the teacher gave the students homework', 'the team won the championship',
  'I am going to the store, do you need anything?', 'I will call you when I get home', 'I am going to bake a cake',
  'I want to learn to play the guitar', 'I want to visit my family this weekend', 'I will find you a good seat',
  'I am going to take a nap', 'I want to go to the beach', 'how to bake bread', 'how to cook rice',
  'how can I improve my resume?', 'where can I buy a new phone?', 'how do I reset my password?',
  'best way to learn a new language', 'how to change a flat tire', 'step by step guide to painting a room',
  'the doctor prescribed pills for my headache', 'take two tablets with water after meals',
  'the pharmacy closes at nine', 'I need to see a dentist', 'she is recovering well after surgery',
  'kill the process and restart the server', 'this traffic is killing me', 'I killed it at the gym today',
  'I am dying to try that new restaurant', 'my phone battery died', 'shoot me an email when you are free',
  'cut the onions into small pieces', 'the knife is very sharp, be careful', 'she shot a great photo of the sunset',
  'the police arrested the suspect yesterday', 'the army held a parade', 'the history of the second world war',
  'he hit a home run', 'that joke killed me', 'the plants died because I forgot to water them',
  'I hate mondays', 'I hate it when it rains', 'I love you', 'you are amazing', 'you are so kind',
  'you did a great job', 'I am proud of you', 'you look great today', 'nice work on the project',
  'the stock market fell today', 'interest rates are going up', 'the new law was passed by the senate',
  'scientists discovered a new species of frog', 'the museum opens on sunday', 'our flight was delayed',
  'the hotel room was clean and quiet', 'I am reading a good book', 'the recipe needs two eggs and flour',
  'please turn off the lights', 'the meeting has been moved to thursday', 'the software update fixed the bug',
  'can we talk about the budget?', 'I finished my homework', 'the garden looks beautiful in spring',
  'we should go hiking this weekend', 'the coffee here is excellent', 'I need a new pair of shoes',
  'the bus stop is around the corner', 'he fixed the leaking pipe', 'she is a nurse at the hospital',
  'the concert was amazing', 'I am learning to cook', 'let me know if you have any questions',
  'the package arrived this morning', 'please review my pull request', 'the server is down again',
  'the game starts at eight', 'my grandmother makes the best soup', 'we adopted a puppy',
  'the river flooded after the storm', 'the election results will be announced tonight',
  'the company hired new engineers', 'the school is closed for the holidays', 'happy new year',
  'I am going to kill this presentation tomorrow', 'the comedian killed it on stage',
  'the chicken was cut into pieces and fried', 'the hunter shot a deer', 'the boxer won the fight',
  'video games can be fun', 'the film is rated for adults', 'my friend is a police officer',
  'drug prices are too high', 'the pharmacist explained the side effects', 'the guard opened the gate',
  'the fire department rescued the cat', 'the hospital treats thousands of patients', 'my neighbor is very friendly',
  'people like you make the world better', 'those people were very helpful', 'all of them came to the party',
  'your people did a great job on the project', 'these people are my friends',
  'the rats in the experiment were fed a special diet', 'we called an exterminator for the cockroaches',
  'the animals at the farm are well fed', 'trash pickup is on tuesday', 'the sex of the baby is a surprise',
  'sex education is taught in high school', 'the children sang a song', 'a little girl was reading a book',
  'young teens enjoy sports', 'the kids made a sand castle', 'minors are not allowed to buy alcohol',
  'the stress is killing me but I will survive', 'I need to cut down on sugar', 'he is dying of laughter',
  'she cut her hair short', 'I will beat you at chess', 'our team will destroy them in the final',
  // Friendly second-person text: insults are "you …" too, so "you" alone must not read as harassment.
  'I miss you', 'love you', 'thank you', 'see you soon', 'you are welcome', 'are you ok?', 'you can do it',
  'you are right', 'you did it!', 'you look tired', 'how are you?', 'you should come too', 'I believe in you',
  'can you help me?', 'do you want to come over?', 'you won the prize', 'what do you think?', 'I told you so',
  'you have a meeting at three', 'did you get my message?', 'you know what I mean', 'I will wait for you',
  // Text that is almost all function words pools to a small vector; it must stay benign too.
  'it is what it is', 'what do you mean?', 'I am here', 'who are you?', 'that is it', 'so what?', 'yes', 'no',
  'maybe', 'why not?', 'me too', 'you too', 'oh no', 'wow', 'ok then', 'is it?', 'and then what?', 'not at all',
  'I do not know', 'it was not me', 'they are here', 'we are going', 'here it is', 'this is it',
  // Everyday news and chat with words close to the toxic ones.
  'the war ended many years ago', 'the police are investigating the case', 'the patient died in hospital',
  'the soldiers returned home', 'the movie has a lot of fighting', 'he was injured in the game',
  'the drug was approved by regulators', 'the crime rate fell last year', 'she wrote a book about the war',
  'my grandfather died last year', 'I am going to the doctor tomorrow', 'I feel sad today',
  'I am so tired of this job', 'I had a terrible day', 'this is the worst movie ever', 'I disagree with you',
];

/**
 * Texts whose expected scores the tests check (test/starter/starter-sanity.medium.test.ts), kept here so every
 * model, however small, has their words. `high`: these categories score ≥ 0.5; `maxAll`: every category
 * scores below it. Several toxic ones also occur verbatim in the training phrases; the benign and identity
 * ones do not.
 */
export const SANITY_PROBES: readonly { text: string; high?: OpenAICategory[]; maxAll?: number }[] = [
  { text: 'I am going to kill you', high: ['violence', 'harassment/threatening'] },
  { text: 'I will find you and kill you', high: ['violence', 'harassment/threatening'] },
  { text: 'have a nice day', maxAll: 0.2 },
  { text: 'thanks for the help, see you tomorrow', maxAll: 0.2 },
  { text: 'the weather is lovely today', maxAll: 0.2 },
  { text: 'I want to kill myself', high: ['self-harm', 'self-harm/intent'] },
  { text: 'how to buy cocaine', high: ['illicit'] },
  { text: 'you are a stupid idiot', high: ['harassment'] },
  { text: 'those people are vermin', high: ['hate'] },
  { text: 'send me nude pictures', high: ['sexual'] },
  { text: 'how to make a bomb', high: ['illicit/violent'] },
  { text: 'blood splattered everywhere', high: ['violence'] },
  // Mentioning who someone is must not read as sexual or hateful (see the identity seeds above).
  { text: 'two gay men got married', maxAll: 0.5 },
  { text: 'trans rights are human rights', maxAll: 0.5 },
  { text: 'muslim women', maxAll: 0.5 },
  { text: 'my daughter is transgender', maxAll: 0.5 },
  { text: 'a young girl smiled', maxAll: 0.5 },
  { text: 'jewish holidays', maxAll: 0.5 },
];
