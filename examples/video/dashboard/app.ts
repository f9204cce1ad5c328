// The demo's live dashboard: the browser client, the shared Video class, plain DOM.
import { connect, type CapsyncClient } from '../../../client/browser.js';
import { Video } from '../video.js';

let client: CapsyncClient | undefined;
const rows = new Map<Video, HTMLTableRowElement>();
const $ = (id: string) => document.getElementById(id)!;

function log(line: string): void {
  $('log').textContent = `${new Date().toLocaleTimeString()} ${line}\n${$('log').textContent ?? ''}`;
}

function render(video: Video): void {
  let row = rows.get(video);
  if (!row) {
    row = document.createElement('tr');
    row.dataset['video'] = video.id;
    row.innerHTML = `<td><b></b><div class="scope"></div></td><td><input type="text" aria-label="description"></td><td class="version"></td>
      <td><button class="save">Save</button> <button class="share">Share…</button> <button class="delete">Delete</button></td>`;
    const input = row.querySelector('input')!;
    row.querySelector<HTMLButtonElement>('.save')!.onclick = () =>
      video.set_description(input.value).then((v) => log(`saved ${video.id} (version ${v})`), (e: { code: string }) => log(`save refused: ${e.code}`));
    row.querySelector<HTMLButtonElement>('.delete')!.onclick = () =>
      video.delete().then(() => log(`deleted ${video.id}`), (e: { code: string }) => log(`delete refused: ${e.code}`));
    row.querySelector<HTMLButtonElement>('.share')!.onclick = async () => {
      const online = await client!.presence();
      const to = prompt(`Grant update rights on ${video.title} to (online: ${online.join(', ') || 'nobody'})`);
      if (!to) return;
      const grant = video.cap.scope.length === 2 ? video.cap.narrow(['update']) : video.cap.narrow([]);
      client!.delegate(grant, { to, bind: true }).then(() => log(`granted ${video.id} to ${to}`), (e: { code: string }) => log(`share refused: ${e.code}`));
    };
    $('videos').append(row);
    rows.set(video, row);
  }
  row.querySelector('b')!.textContent = video.title;
  row.querySelector('.scope')!.textContent = JSON.stringify(video.cap.scope);
  row.querySelector('input')!.value = video.description;
  row.querySelector('.version')!.textContent = String(video.version ?? '');
}

function watch(video: Video): void {
  client!.live(video).subscribe({ next: render, complete: () => (rows.get(video)?.remove(), rows.delete(video)) });
}

async function login(user: string): Promise<void> {
  await client?.close();
  rows.clear();
  $('videos').textContent = '';
  const { token } = (await (await fetch(`/dev/login?user=${encodeURIComponent(user)}`)).json()) as { token: string };
  client = await connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`, { token });
  $('who').textContent = `connected as ${client.user?.id} (${client.user?.roles.join(', ') || 'no roles'})`;
  for (const video of await client.call<Video[]>('get_my_videos')) watch(video);
  client.delegations.subscribe(({ from, object }) => {
    log(`${from} granted you update rights on ${(object as Video | null)?.title ?? 'something'}`);
    if (object instanceof Video) watch(object);
  });
  client.revocations.subscribe(({ scope, reason }) => log(`${reason}: ${JSON.stringify(scope)}`));
  document.body.dataset['ready'] = user;
}

for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-user]')) {
  button.onclick = () => void login(button.dataset['user']!).catch((e: { code?: string }) => log(`login failed: ${e.code ?? e}`));
}
