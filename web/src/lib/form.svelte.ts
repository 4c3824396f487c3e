import { fieldErrors, problemOf } from "./api";

export interface FormStateOptions {
  /**
   * Strips this prefix from error paths: a form for one entry of a batch (`prices.0.model`)
   * shows the error beside its own field (`model`).
   */
  pathPrefix?: string;
  /**
   * The fields the form shows. A field error on any other path would be shown nowhere, so the
   * problem's detail is shown above the buttons as well.
   */
  fields?: readonly string[];
}

/**
 * The state of a form that submits to the server: `busy` while a submission runs, the server's
 * field errors by path (shown beside their fields), and `formError`, the problem's detail when no
 * shown field explains it.
 */
export class FormState {
  busy = $state(false);
  errors = $state<Record<string, string>>({});
  formError = $state<string>();

  readonly #options: FormStateOptions;

  constructor(options: FormStateOptions = {}) {
    this.#options = options;
  }

  /** Clears the errors (when the form opens again, or before a new attempt). */
  reset() {
    this.errors = {};
    this.formError = undefined;
  }

  /**
   * Runs `action` (the call and what follows a success) with the form busy and its errors
   * cleared; a failure becomes field errors or a form error. Resolves to whether it succeeded.
   */
  async submit(action: () => Promise<unknown>): Promise<boolean> {
    this.busy = true;
    this.reset();
    try {
      await action();
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    } finally {
      this.busy = false;
    }
  }

  /** Shows a server error: beside its fields when it names them, otherwise above the buttons. */
  fail(err: unknown) {
    const prefix = this.#options.pathPrefix;
    const byPath = fieldErrors(err);
    this.errors = prefix ? Object.fromEntries(Object.entries(byPath).map(([path, message]) => [path.startsWith(prefix) ? path.slice(prefix.length) : path, message])) : byPath;
    const paths = Object.keys(this.errors);
    const fields = this.#options.fields;
    if (paths.length === 0 || (fields && paths.some((p) => !fields.includes(p)))) this.formError = problemOf(err).detail;
  }
}
