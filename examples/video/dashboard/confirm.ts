// A confirmation for destructive actions: a modal <dialog>, never window.confirm().
import { h } from './dom.js';

/**
 * Asks `question` in a modal dialog with Cancel and `action` (the destructive button, not focused first, so
 * Enter does not delete). Resolves true if the user chose `action`, false on Cancel or Escape.
 */
export function confirmAction(question: string, action: string): Promise<boolean> {
  const dialog = h('dialog', { class: 'confirm', attrs: { 'aria-label': 'Confirm' } },
    h('p', { text: question }),
    h('form', { attrs: { method: 'dialog' }, class: 'buttons' },
      h('button', { text: 'Cancel', attrs: { value: 'cancel', autofocus: '' } }),
      h('button', { class: 'danger confirm-action', text: action, attrs: { value: 'confirm' } })));
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    dialog.showModal();
  });
}
