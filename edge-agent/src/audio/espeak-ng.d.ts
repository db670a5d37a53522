/** The WebAssembly build of espeak-ng (npm `espeak-ng`): an Emscripten module running the CLI. */
declare module 'espeak-ng' {
  export default function ESpeakNg(options: {
    arguments: string[];
  }): Promise<{ FS: { readFile(path: string): Uint8Array } }>;
}
