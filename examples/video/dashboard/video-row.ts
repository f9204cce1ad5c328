// One video's table row: its live state, the description draft, and what this user's capability allows.
import type { Subscription } from 'rxjs';
import type { CapsyncClient } from '../../../client/browser.js';
import type { Video } from '../video.js';
import { h } from './dom.js';
import { describeError } from './messages.js';
import { rightsOf, type Rights } from './rights.js';

/** What a row asks of the page around it. */
export interface RowHost {
  readonly client: CapsyncClient;
  log(line: string): void;
  /** A failure the user should see now (the page's notice area), with the action that failed. */
  problem(what: string, error: unknown): void;
  /** The video was deleted: the row is gone. */
  removed(row: VideoRow): void;
  share(video: Video): void;
  /** Asks the user to confirm a destructive action; resolves true if they did. */
  confirm(question: string, action: string): Promise<boolean>;
}

/**
 * A video's row. The description input holds either the last saved value (`base`) or the user's draft. A
 * push never overwrites a draft that differs from `base`: the row shows "changed by someone else" with the
 * incoming text and lets the user take it or keep the draft (a later Save then overwrites it, knowingly).
 * Buttons exist only for what the held capability allows (an editor never sees Delete).
 */
export class VideoRow {
  readonly element: HTMLTableRowElement;
  video: Video;
  /** Who delegated it, when it came as a delegation. */
  from: string | undefined;
  readonly #host: RowHost;
  readonly #input: HTMLInputElement;
  readonly #conflict: HTMLElement;
  readonly #conflictText: HTMLElement;
  readonly #notice: HTMLElement;
  readonly #actions: HTMLElement;
  readonly #meta: { title: HTMLElement; rights: HTMLElement; from: HTMLElement; version: HTMLElement; by: HTMLElement };
  /** The description as last saved on the server, as this row knows it. */
  #base: string;
  /** The text of this page's latest save: its own push echoing back is not someone else's change. */
  #saved: string | undefined;
  /**
   * The version the draft was edited from, sent with Save: if someone else saved since and the user has not
   * settled it (Take theirs / Keep mine), the server refuses with ERR_VERSION_CONFLICT instead of overwriting.
   */
  #draftFrom: number | undefined;
  #subscription: Subscription | undefined;
  #locked = false;
  /** What the action buttons were last built for: rebuilt only when the rights change, never under a click. */
  #actionsFor = '';

  constructor(host: RowHost, video: Video, from?: string) {
    this.#host = host;
    this.video = video;
    this.from = from;
    this.#base = video.description;
    this.#input = h('input', { attrs: { type: 'text' }, on: { input: () => this.#typed(), keydown: (e) => e.key === 'Enter' && void this.#save() } });
    this.#input.value = video.description;
    this.#conflictText = h('span');
    this.#conflict = h('div', { class: 'conflict', attrs: { role: 'alert' } }, this.#conflictText,
      h('button', { class: 'take', text: 'Take theirs', on: { click: () => this.#take() } }), ' ',
      h('button', { class: 'keep', text: 'Keep mine', on: { click: () => this.#resolve() } }));
    this.#conflict.hidden = true;
    this.#notice = h('div', { class: 'locked-reason' });
    this.#notice.hidden = true;
    this.#meta = { title: h('b', { class: 'title' }), rights: h('span', { class: 'badge rights' }), from: h('span', { class: 'from' }), version: h('span', { class: 'version' }), by: h('div', { class: 'by' }) };
    this.#actions = h('td', { class: 'actions' });
    this.element = h('tr', { data: { video: video.id } },
      h('td', {}, this.#meta.title, h('div', { class: 'sub' }, this.#meta.rights, ' ', this.#meta.from)),
      h('td', {}, this.#input, this.#conflict, this.#notice),
      h('td', {}, this.#meta.version, this.#meta.by),
      this.#actions);
    this.#render();
    this.#watch();
  }

  /** True once the rights to the video ended: the row stays, read-only, with the reason. */
  get locked(): boolean {
    return this.#locked;
  }

  /** What the row's capability allows now. */
  get rights(): Rights {
    return rightsOf(this.video.cap.scope);
  }

  /** Shows `video` (a newer instance with its own capability, e.g. shared again after a revocation) instead. */
  rebind(video: Video, from?: string): void {
    this.#subscription?.unsubscribe();
    this.video = video;
    this.from = from;
    this.#locked = false;
    this.#input.readOnly = false;
    this.#notice.hidden = true;
    this.#base = video.description;
    this.#input.value = video.description;
    this.#resolve();
    this.#render();
    this.#watch();
  }

  /** Stops following the video (the session ended or the page switched user). */
  dispose(): void {
    this.#subscription?.unsubscribe();
  }

  #watch(): void {
    this.#subscription = this.#host.client.live(this.video).subscribe({
      next: () => this.#pushed(),
      complete: () => this.#host.removed(this),
      error: (error: unknown) => this.#lock(error),
    });
  }

  #typed(): void {
    if (this.element.dataset['draft'] !== 'true') this.#draftFrom = this.video.version;
    this.element.dataset['draft'] = String(this.#input.value !== this.#base);
    if (this.#input.value === this.#base) this.#resolve();
  }

  /** A new state arrived (or the first one): the draft, if any, is kept. */
  #pushed(): void {
    const incoming = this.video.description;
    if (incoming !== this.#base) {
      const draft = this.#input.value;
      const editing = draft !== this.#base;
      const own = incoming === this.#saved;
      this.#base = incoming;
      if (!editing || draft === incoming) {
        this.#input.value = incoming;
        this.#resolve();
      } else if (!own) {
        this.#conflict.hidden = false;
        const who = this.video.updatedBy === undefined ? 'someone else' : this.video.updatedBy;
        this.#conflictText.textContent = `Changed by ${who} to “${incoming}”. `;
      }
    }
    this.#render();
  }

  async #save(): Promise<void> {
    if (this.#locked || !this.rights.edit) return;
    const text = this.#input.value;
    this.#saved = text;
    try {
      const version = await this.video.set_description(text, this.#draftFrom ?? this.video.version);
      if (this.#input.value === text) this.#base = text;
      this.#resolve();
      // Our own push may not be back yet: the next edit starts from the version this save made.
      this.#draftFrom = version;
      this.#host.log(`saved ${this.video.title} (version ${version})`);
    } catch (error) {
      this.#host.problem(`Could not save ${this.video.title}`, error);
    }
  }

  async #delete(): Promise<void> {
    const title = this.video.title;
    if (!(await this.#host.confirm(`Delete “${title}” for everyone? Everyone it was shared with loses it too.`, 'Delete'))) return;
    try {
      await this.video.delete();
      this.#host.log(`deleted ${title}`);
    } catch (error) {
      this.#host.problem(`Could not delete ${title}`, error);
    }
  }

  #take(): void {
    this.#input.value = this.#base;
    this.#resolve();
  }

  /** The draft conflict, if any, is settled (taken, kept, saved, or typed back to the saved text). */
  #resolve(): void {
    this.#conflict.hidden = true;
    this.#draftFrom = this.video.version;
    this.element.dataset['draft'] = String(this.#input.value !== this.#base);
  }

  /** The last capability covering the video stopped working: nothing on the row can be changed any more. */
  #lock(error: unknown): void {
    this.#locked = true;
    // The draft can no longer be saved; the row shows what the server last had.
    this.#input.value = this.#base;
    this.#resolve();
    this.#notice.hidden = false;
    this.#notice.textContent = `Read-only: ${describeError(error)}.`;
    this.#host.log(`${this.video.title} is read-only now: ${describeError(error)}`);
    this.#render();
  }

  #render(): void {
    const rights = this.rights;
    const editable = !this.#locked && rights.edit;
    this.element.dataset['state'] = this.#locked ? 'locked' : 'editable';
    this.#meta.title.textContent = this.video.title;
    this.#meta.rights.textContent = this.#locked ? 'no access' : rights.label;
    this.#meta.rights.title = JSON.stringify(this.video.cap.scope);
    this.#meta.from.textContent = this.from === undefined ? '' : `shared by ${this.from}`;
    this.#meta.version.textContent = this.video.version === undefined ? '' : `v${this.video.version}`;
    this.#meta.by.textContent = this.video.updatedBy === undefined ? '' : `by ${this.video.updatedBy}`;
    this.#input.readOnly = !editable;
    this.#input.setAttribute('aria-label', `Description of ${this.video.title}`);
    this.#input.setAttribute('aria-readonly', String(!editable));
    const actionsFor = `${this.#locked}|${rights.label}`;
    if (actionsFor === this.#actionsFor) return;
    this.#actionsFor = actionsFor;
    this.#actions.replaceChildren(
      ...(this.#locked ? [] : [
        editable && h('button', { class: 'save', text: 'Save', on: { click: () => void this.#save() } }),
        rights.share && h('button', { class: 'share', text: 'Share…', on: { click: () => this.#host.share(this.video) } }),
        rights.delete && h('button', { class: 'delete danger', text: 'Delete', on: { click: () => void this.#delete() } }),
      ].filter((b): b is HTMLButtonElement => b !== false)),
    );
  }
}
