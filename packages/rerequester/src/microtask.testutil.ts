/**
 * The error thrown by the next function queued with queueMicrotask (how a throwing listener or
 * observer method surfaces), caught instead of crashing the test run. Call jest.restoreAllMocks() after.
 */
export function nextMicrotaskError(): Promise<unknown> {
  return new Promise<unknown>((resolve) => {
    const original = queueMicrotask;
    jest.spyOn(globalThis, 'queueMicrotask').mockImplementationOnce((fn) =>
      original(() => {
        try {
          fn();
        } catch (e) {
          resolve(e);
        }
      }),
    );
  });
}
