import { Capability, callServer, registerPortable } from '../../protocol/index.js';

/**
 * The seed's portable Video: the same class on server and client. Its capability says what the holder may
 * do: `["youtube_videos", id]` is full control, `["youtube_videos", id, "update"]` update only.
 */
export class Video {
  id: string;
  title: string;
  description: string;
  /** Who saved the description last (set by `set_video_description`); absent on a seeded video. */
  updatedBy?: string;
  /** Set by capsync on every change. */
  version?: number;
  declare cap: Capability;

  constructor(id: string, fields: { title: string; description: string }) {
    this.id = id;
    this.title = fields.title;
    this.description = fields.description;
  }

  /** Server code: attaches the capability this caller gets (only server code can create verifiable ones). */
  grant(fullControl: boolean): this {
    this.cap = fullControl ? new Capability(['youtube_videos', this.id]) : new Capability(['youtube_videos', this.id, 'update']);
    return this;
  }

  /**
   * Sets the description; resolves to the new version. With `fromVersion` (the version the text was edited
   * from) it fails with `ERR_VERSION_CONFLICT` if someone else changed the video since.
   */
  set_description(description: string, fromVersion?: number): Promise<number> {
    return fromVersion === undefined
      ? callServer(this, 'set_video_description', this.cap, description)
      : callServer(this, 'set_video_description', this.cap, description, fromVersion);
  }

  delete(): Promise<number> {
    return callServer(this, 'delete_video', this.cap);
  }
}

registerPortable(Video, { name: 'Video', address: (v) => ['youtube_videos', v.id] });
