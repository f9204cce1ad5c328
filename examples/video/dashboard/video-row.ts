// One video's table row: its live state, the description draft, and whether this user may still edit it.
import type { Subscription } from 'rxjs';
import type { CapsyncClient } from '../../../client/browser.js';
import type { Video } from '../video.js';
import { describeError } from './messages.js';

/** What a row asks of the page around it. */
export interface RowHost {
  readonly client: CapsyncClient;
  log(line: string): void;
  /** The video was deleted: the row is gone. */
  removed(row: VideoRow): void;
  share(video: Video): void;
}

/**
 * A video's row. The description input holds either the last saved value (`base`) or the user's draft. A
 * push never overwrites a draft that differs from `base`: the row shows "changed by someone else" with the
 * incoming text and lets the user take it or keep the draft (a later Save then overwrites it, knowingly).
 */
export class VideoRow {
  readonly element: HTMLTableRowElement;
  video: Video;
  /** Who delegated it, when it came as a delegation. */
  from: string | undefined;
  readonly #host: RowHost;
  readonly #input: HTMLInputElement;
  readonly #conflict: HTMLElement;
  readonly #notice: HTMLElement;
  /** The description as last saved on the server, as this row knows it. */
  #base: string;
  /** The text of this page's latest save: its own push echoing back is not someone else's change. */
  #saved: string | undefined;
  #subscription: Subscription | undefined;
  #locked = false;

  constructor(host: RowHost, video: Video, from?: string) {
    this.#host = host;
    this.video = video;
    this.from = from;
    this.#base = video.description;
    const row = (this.element = document.createElement('tr'));
    row.dataset['video'] = video.id;
    row.innerHTML = `<td><b class="title"></b><div class="scope"></div><div class="from"></div></td>
      <td><input type="text"><div class="conflict" role="alert" hidden><span></span>
        <button class="take">Take theirs</button> <button class="keep">Keep mine</button></div>
        <div class="locked-reason" hidden></div></td>
      <td class="version"></td>
      <td class="actions"><button class="save">Save</button> <button class="share">Share…</button> <button class="delete">Delete</button></td>`;
    this.#input = row.querySelector('input')!;
    this.#conflict = row.querySelector('.conflict')!;
    this.#notice = row.querySelector('.locked-reason')!;
    this.#input.value = video.description;
    this.#input.oninput = () => {
      if (this.#input.value === this.#base) this.#resolve();
    };
    this.#input.onkeydown = (event) => {
      if (event.key === 'Enter') void this.#save();
    };
    this.#button('.save').onclick = () => void this.#save();
    this.#button('.take').onclick = () => {
      this.#input.value = this.#base;
      this.#resolve();
    };
    this.#button('.keep').onclick = () => this.#resolve();
    this.#button('.share').onclick = () => this.#host.share(this.video);
    this.#button('.delete').onclick = () =>
      this.video.delete().then(() => this.#host.log(`deleted ${this.video.title}`), (e: unknown) => this.#host.log(`could not delete ${this.video.title}: ${describeError(e)}`));
    this.#render();
    this.#watch();
  }

  /** True once the rights to the video ended: the row stays, read-only, with the reason. */
  get locked(): boolean {
    return this.#locked;
  }

  /** Shows `video` (a newer instance with its own capability, e.g. shared again after a revocation) instead. */
  rebind(video: Video, from?: string): void {
    this.#subscription?.unsubscribe();
    this.video = video;
    this.from = from;
    this.#locked = false;
    this.element.dataset['state'] = 'editable';
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
        this.#conflict.querySelector('span')!.textContent = `Changed by someone else to “${incoming}”. `;
      }
    }
    this.#render();
  }

  async #save(): Promise<void> {
    if (this.#locked) return;
    const text = this.#input.value;
    this.#saved = text;
    try {
      const version = await this.video.set_description(text);
      if (this.#input.value === text) this.#base = text;
      this.#resolve();
      this.#host.log(`saved ${this.video.title} (version ${version})`);
    } catch (error) {
      this.#host.log(`could not save ${this.video.title}: ${describeError(error)}`);
    }
  }

  /** The draft conflict, if any, is settled (taken, kept, saved, or typed back to the saved text). */
  #resolve(): void {
    this.#conflict.hidden = true;
  }

  /** The last capability covering the video stopped working: nothing on the row can be changed any more. */
  #lock(error: unknown): void {
    this.#locked = true;
    this.element.dataset['state'] = 'locked';
    this.#input.readOnly = true;
    // The draft can no longer be saved; the row shows what the server last had.
    this.#input.value = this.#base;
    this.#resolve();
    this.#notice.hidden = false;
    this.#notice.textContent = `Read-only: ${describeError(error)}.`;
    this.#host.log(`${this.video.title} is read-only now: ${describeError(error)}`);
    this.#render();
  }

  #render(): void {
    const row = this.element;
    row.dataset['state'] = this.#locked ? 'locked' : 'editable';
    row.querySelector('.title')!.textContent = this.video.title;
    row.querySelector('.scope')!.textContent = JSON.stringify(this.video.cap.scope);
    row.querySelector('.from')!.textContent = this.from === undefined ? '' : `shared by ${this.from}`;
    row.querySelector('.version')!.textContent = String(this.video.version ?? '');
    this.#input.setAttribute('aria-label', `Description of ${this.video.title}`);
    this.#input.setAttribute('aria-readonly', String(this.#locked));
    row.querySelector<HTMLElement>('.actions')!.hidden = this.#locked;
  }

  #button(selector: string): HTMLButtonElement {
    return this.element.querySelector<HTMLButtonElement>(selector)!;
  }
}
