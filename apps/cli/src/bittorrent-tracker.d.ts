// The npm tracker ships no types; local-tracker.ts casts what it uses to its own interface.
declare module 'bittorrent-tracker/server';
