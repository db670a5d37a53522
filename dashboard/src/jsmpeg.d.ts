/** @cycjimmy/jsmpeg-player ships no types; the dashboard uses its Player class only (video/jsmpeg-player.ts). */
declare module '@cycjimmy/jsmpeg-player' {
  const JSMpeg: unknown;
  export default JSMpeg;
}
