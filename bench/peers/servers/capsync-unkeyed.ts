/** The capsync server, unchanged: its clients send unkeyed calls (see clients/capsync-unkeyed.ts). */
import './capsync.js';
