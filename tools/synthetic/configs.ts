/**
 * config.json, tokenizer_config.json and special_tokens_map.json as transformers writes them for each
 * family (keys sorted, two-space indent, trailing newline; each family's own key names, e.g. DistilBERT's
 * `dim` / `n_layers`), with the synthetic model's sizes and labels.
 */
import { layerNormEps, paddingId, positionRows, type ClassifierSpec } from './spec.js';
import type { BuiltTokenizer } from './tokenizers.js';

const TRANSFORMERS_VERSION = '4.40.2';

const ARCHITECTURE: Record<ClassifierSpec['arch'], string> = {
  bert: 'BertForSequenceClassification',
  distilbert: 'DistilBertForSequenceClassification',
  roberta: 'RobertaForSequenceClassification',
  'xlm-roberta': 'XLMRobertaForSequenceClassification',
  'deberta-v2': 'DebertaV2ForSequenceClassification',
};

const TOKENIZER_CLASS: Record<ClassifierSpec['arch'], string> = {
  bert: 'BertTokenizer',
  distilbert: 'DistilBertTokenizer',
  roberta: 'RobertaTokenizer',
  'xlm-roberta': 'XLMRobertaTokenizer',
  'deberta-v2': 'DebertaV2Tokenizer',
};

/** json.dumps(…, indent=2, sort_keys=True) + "\n", as PretrainedConfig.to_json_string writes. */
export function sortedJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function modelConfig(spec: ClassifierSpec): Record<string, unknown> {
  const { arch, vocabSize, hidden, layers, heads, intermediate, labels } = spec;
  const common: Record<string, unknown> = {
    architectures: [ARCHITECTURE[arch]],
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    initializer_range: 0.02,
    pad_token_id: paddingId(arch),
    torch_dtype: 'float32',
    transformers_version: TRANSFORMERS_VERSION,
    vocab_size: vocabSize,
    max_position_embeddings: positionRows(spec),
  };
  if (spec.writeProblemType) common.problem_type = spec.problemType;
  const bertLike = {
    attention_probs_dropout_prob: 0.1,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    hidden_size: hidden,
    intermediate_size: intermediate,
    layer_norm_eps: layerNormEps(arch),
    num_attention_heads: heads,
    num_hidden_layers: layers,
  };
  switch (arch) {
    case 'bert':
      return {
        ...common,
        ...bertLike,
        model_type: 'bert',
        classifier_dropout: null,
        gradient_checkpointing: false,
        position_embedding_type: 'absolute',
        type_vocab_size: 2,
        use_cache: true,
      };
    case 'distilbert':
      return {
        ...common,
        model_type: 'distilbert',
        activation: 'gelu',
        attention_dropout: 0.1,
        dim: hidden,
        dropout: 0.1,
        hidden_dim: intermediate,
        n_heads: heads,
        n_layers: layers,
        qa_dropout: 0.1,
        seq_classif_dropout: 0.2,
        sinusoidal_pos_embds: false,
        tie_weights_: true,
      };
    case 'roberta':
    case 'xlm-roberta':
      return {
        ...common,
        ...bertLike,
        model_type: arch,
        bos_token_id: 0,
        eos_token_id: 2,
        classifier_dropout: null,
        position_embedding_type: 'absolute',
        type_vocab_size: 1,
        use_cache: true,
      };
    case 'deberta-v2':
      // Absolute positions and plain attention: see transformer.ts for why this differs from deberta-v3.
      return {
        ...common,
        ...bertLike,
        model_type: 'deberta-v2',
        max_relative_positions: -1,
        pooler_dropout: 0,
        pooler_hidden_act: 'gelu',
        pooler_hidden_size: hidden,
        pos_att_type: [],
        position_biased_input: true,
        relative_attention: false,
        type_vocab_size: spec.tokenTypeIds ? 2 : 0,
      };
  }
}

export function tokenizerConfig(spec: ClassifierSpec, tok: BuiltTokenizer): Record<string, unknown> {
  const s = tok.special;
  const base: Record<string, unknown> = {
    clean_up_tokenization_spaces: true,
    cls_token: s.cls,
    mask_token: s.mask,
    model_max_length: spec.maxPositions,
    pad_token: s.pad,
    sep_token: s.sep,
    tokenizer_class: TOKENIZER_CLASS[spec.arch],
    unk_token: s.unk,
  };
  switch (spec.arch) {
    case 'bert':
    case 'distilbert':
      return { ...base, do_lower_case: true, strip_accents: null, tokenize_chinese_chars: true };
    case 'roberta':
      return { ...base, add_prefix_space: false, bos_token: s.bos, eos_token: s.eos, errors: 'replace', trim_offsets: true };
    case 'xlm-roberta':
      return { ...base, bos_token: s.bos, eos_token: s.eos };
    case 'deberta-v2':
      return { ...base, bos_token: s.bos, eos_token: s.eos, do_lower_case: false, split_by_punct: false, vocab_type: 'spm' };
  }
}

export function specialTokensMap(tok: BuiltTokenizer): Record<string, unknown> {
  const s = tok.special;
  return {
    ...(s.bos ? { bos_token: s.bos } : {}),
    cls_token: s.cls,
    ...(s.eos ? { eos_token: s.eos } : {}),
    mask_token: s.mask,
    pad_token: s.pad,
    sep_token: s.sep,
    unk_token: s.unk,
  };
}
