/** What running scripts produces: the reporters' input. */

/** Why a step or an expectation failed: a sentence, and where useful the code and an expected/actual diff. */
export interface Failure {
  readonly message: string;
  readonly diff?: readonly string[];
}

export interface ExpectationResult {
  readonly label: string;
  readonly passed: boolean;
  readonly failure?: Failure;
}

export interface StepResult {
  readonly index: number;
  readonly label: string;
  readonly line: number;
  readonly status: 'passed' | 'failed' | 'skipped';
  readonly ms: number;
  readonly expectations: readonly ExpectationResult[];
  /** Why the step itself failed (the expectations say the rest). */
  readonly failure?: Failure;
}

export interface ScriptResult {
  readonly file: string;
  readonly name: string;
  readonly url: string;
  readonly steps: readonly StepResult[];
  readonly ms: number;
}
