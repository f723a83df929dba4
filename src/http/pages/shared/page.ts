// What the review page and the dashboard share: element lookup, show/hide, the status line, inline
// questions, and API calls with the signed-in key. Bundled into each page (src/http/pages/bundle.ts).

/** The element with this id; a page that lacks one of its own elements is a bug, so that throws. */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

export function show(id: string, visible: boolean): void {
  $(id).hidden = !visible;
}

/**
 * The sign-in form both pages have: a submitted key (trimmed; an empty one is ignored) goes to `signIn`;
 * a key kept from earlier in this tab signs in at once; otherwise the form is shown with the focus in it.
 * Call it last in a page's start-up, once its other handlers are in place.
 */
export function wireSignIn(stored: string | null, signIn: (key: string) => void): void {
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $<HTMLInputElement>('key').value.trim();
    if (key) signIn(key);
  });
  if (stored) signIn(stored);
  else showSignIn();
}

/** Back to an empty sign-in form (the key is forgotten by the caller). */
export function showSignIn(): void {
  show('signout', false);
  show('login', true);
  $<HTMLInputElement>('key').value = '';
  $('key').focus();
}

export function status(message: string, isError = false): void {
  const s = $('status');
  s.textContent = message;
  s.classList.toggle('error', isError);
}

/** An element holding `text` as text (never as HTML: server strings are hostile until proven otherwise). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

export function cell(text: string, className?: string): HTMLTableCellElement {
  return el('td', text, className);
}

/** A failed API call: the server's message, its HTTP status and error code. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** What a caught API failure is (apiCall throws nothing else). */
export const failure = (e: unknown): ApiError => e as ApiError;

/** Calls the API with `key`; a non-2xx answer throws an ApiError carrying the server's message, `status` and `code`. */
export async function apiCall<T = unknown>(key: string | null, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${key ?? ''}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = (await res.json().catch(() => ({}))) as { error?: { message?: string; code?: string } };
  if (!res.ok) throw new ApiError(data?.error?.message ?? `HTTP ${res.status}`, res.status, data?.error?.code ?? null);
  return data as T;
}

/**
 * A question asked inline (no browser dialog): the group `#${group}` holding `#${prefix}-label`, `-input`,
 * `-ok` and `-cancel` (the prefix is the group's id unless given). `ask` resolves with the text on Enter or OK, null on Escape or Cancel; Enter
 * and Escape in the field go no further (a form around it is not submitted). The field keeps the keyboard
 * while the question is open and gives it back before it hides.
 */
export class InlineQuestion {
  private pending: ((answer: string | null) => void) | null = null;

  constructor(
    private readonly group: string,
    private readonly prefix = group,
  ) {}

  get open(): boolean {
    return this.pending !== null;
  }

  get input(): HTMLInputElement {
    return $<HTMLInputElement>(`${this.prefix}-input`);
  }

  /** Call once at start-up. */
  wire(): void {
    const input = this.input;
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        this.pending?.(e.key === 'Enter' ? input.value : null);
      }
    });
    $(`${this.prefix}-ok`).addEventListener('click', () => this.pending?.(input.value));
    $(`${this.prefix}-cancel`).addEventListener('click', () => this.pending?.(null));
  }

  ask(question: string): Promise<string | null> {
    this.pending?.(null);
    $(`${this.prefix}-label`).textContent = question;
    const input = this.input;
    input.value = '';
    show(this.group, true);
    input.focus();
    // Once laid out, make sure the field has the keyboard (nothing else may take it meanwhile).
    requestAnimationFrame(() => {
      if (this.pending && document.activeElement !== input) input.focus();
    });
    return new Promise((resolve) => {
      this.pending = (answer) => {
        this.pending = null;
        input.blur();
        show(this.group, false);
        resolve(answer);
      };
    });
  }

  cancel(): void {
    this.pending?.(null);
  }
}
