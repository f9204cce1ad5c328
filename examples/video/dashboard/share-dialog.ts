// The share dialog: a recipient picked from who is online, the rights, an expiry, bound or bearer.
import type { Video } from '../video.js';
import { h } from './dom.js';
import { describeError } from './messages.js';
import { rightsOf } from './rights.js';

/** What the user chose in the dialog. */
export interface ShareChoice {
  readonly to: string;
  /** Full control (edit and delete) instead of edit only; only offered to a holder of full control. */
  readonly full: boolean;
  readonly expiresInMs: number;
  /** An unbound capability (usable by whoever holds its bytes) instead of one bound to the recipient. */
  readonly bearer: boolean;
}

/** The expiries offered. Every share expires: a forgotten share ends by itself. */
export const expiryChoices: readonly { label: string; ms: number }[] = [
  { label: '5 minutes', ms: 5 * 60_000 },
  { label: '1 hour', ms: 3_600_000 },
  { label: '1 day', ms: 86_400_000 },
  { label: '7 days', ms: 7 * 86_400_000 },
];

/** Where the dialog learns who is online (the presence list), and hears when it changes, if it can. */
export interface Recipients {
  list(): Promise<string[]>;
  /** Calls `changed` whenever someone joins or leaves; returns the unsubscribe. */
  watch?(changed: () => void): () => void;
}

/** Opens the dialog for `video`; resolves with the choice, or null when cancelled. */
export function chooseShare(video: Video, recipients: Recipients): Promise<ShareChoice | null> {
  const rights = rightsOf(video.cap.scope);
  const to = h('select', { attrs: { name: 'to', 'aria-label': 'Recipient', required: '' } });
  const hint = h('p', { class: 'hint' });
  const share = h('button', { class: 'primary share-confirm', text: 'Share', attrs: { value: 'share' } });
  const full = h('select', { attrs: { name: 'rights', 'aria-label': 'Rights' } },
    h('option', { text: 'Can edit the description', attrs: { value: 'edit' } }),
    rights.shareFull && h('option', { text: 'Full control (edit and delete)', attrs: { value: 'full' } }));
  const expiry = h('select', { attrs: { name: 'expiry', 'aria-label': 'Expires after' } },
    ...expiryChoices.map((c, i) => h('option', { text: c.label, attrs: { value: String(c.ms), ...(i === 1 ? { selected: '' } : {}) } })));
  const mode = (value: string, label: string, detail: string, checked: boolean) =>
    h('label', { class: 'mode' }, h('input', { attrs: { type: 'radio', name: 'mode', value, ...(checked ? { checked: '' } : {}) } }), ' ', h('b', { text: label }), h('span', { class: 'hint', text: ` ${detail}` }));
  const form = h('form', { attrs: { method: 'dialog' } },
    h('h2', { text: `Share “${video.title}”` }),
    h('label', { class: 'field' }, 'With ', to), hint,
    h('label', { class: 'field' }, 'Rights ', full),
    h('label', { class: 'field' }, 'Expires after ', expiry),
    h('fieldset', {}, h('legend', { text: 'Kind' }),
      mode('bound', 'Bound to them', 'only their own sessions can use it; a copy of it is useless to anyone else.', true),
      mode('bearer', 'Bearer', 'whoever holds its bytes can use it, like a link: only for handing on outside capsync.', false)),
    h('div', { class: 'buttons' }, h('button', { text: 'Cancel', attrs: { value: 'cancel', formnovalidate: '' } }), share));
  const dialog = h('dialog', { class: 'share-dialog', attrs: { 'aria-label': `Share ${video.title}` } }, form);
  document.body.append(dialog);

  const refresh = async (): Promise<void> => {
    let online: string[];
    try {
      online = await recipients.list();
    } catch (error) {
      hint.textContent = `Cannot list who is online: ${describeError(error)}.`;
      return;
    }
    const current = to.value;
    to.replaceChildren(...online.map((user) => h('option', { text: user, attrs: { value: user } })));
    if (online.includes(current)) to.value = current;
    share.disabled = online.length === 0;
    hint.textContent = online.length === 0
      ? 'Nobody else is online. A share is delivered to an open page: ask them to open the dashboard, and they appear here.'
      : 'Only people with the dashboard open are listed: they receive it at once.';
  };
  const unwatch = recipients.watch?.(() => void refresh());
  void refresh();

  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      unwatch?.();
      const chosen = dialog.returnValue === 'share' && to.value !== '';
      const bearer = form.querySelector<HTMLInputElement>('input[name=mode]:checked')?.value === 'bearer';
      resolve(chosen ? { to: to.value, full: full.value === 'full', expiresInMs: Number(expiry.value), bearer } : null);
      dialog.remove();
    });
    dialog.showModal();
  });
}
