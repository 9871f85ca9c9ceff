declare const __PACKAGE_VERSION__: string;

/** This package's version (package.json's, put in by the build: see tsup.preset.mjs). */
export const VERSION: string = __PACKAGE_VERSION__;
