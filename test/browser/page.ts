// Bundled for the browser by client.browser.test.ts: the browser client, the shared Video class, nothing from Node.
import { firstValueFrom, skip } from 'rxjs';
import { connect } from '../../client/browser.js';
import { Video } from '../../examples/video/video.js';

declare global {
  interface Window {
    watchFirstVideo(url: string, token: string): Promise<{ id: string; isVideo: boolean; scope: unknown[] }>;
    armNextChange(): void;
    nextDescription(): Promise<string>;
    updateFirst(text: string): Promise<number>;
    forbiddenDelete(): Promise<string>;
  }
}

let video: Video | undefined;
let client: Awaited<ReturnType<typeof connect>> | undefined;

window.watchFirstVideo = async (url, token) => {
  client = await connect(url, { token });
  [video] = await client.call<Video[]>('get_my_videos');
  return { id: video!.id, isVideo: video instanceof Video, scope: [...video!.cap.scope] };
};

let nextChange: Promise<Video> | undefined;

// live() emits the instance at once, then after every change: the next change is the second emission.
window.armNextChange = () => {
  nextChange = firstValueFrom(client!.live(video!).pipe(skip(1)));
};

window.nextDescription = async () => (await nextChange!).description;

window.updateFirst = (text) => video!.set_description(text);

window.forbiddenDelete = () => video!.delete().then(() => 'deleted', (e: { code: string }) => e.code);
