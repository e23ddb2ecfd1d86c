// A typed call/reply channel over postMessage, for the main thread (callEngine) and the worker
// (serveEngine). Errors cross as messages; typed arrays and Files are structured-cloned, and the
// values listed by `transfer` are moved instead of copied.
import type { CallMessage, Engine, EngineEvents, EventMessage, ReplyMessage } from './protocol.js';

type Remote = { [K in keyof Engine]: (...args: Parameters<Engine[K]>) => ReturnType<Engine[K]> };

/** The main thread's handle on the worker's Engine, and its events. */
export function callEngine(worker: Worker): {
  engine: Remote;
  on<K extends keyof EngineEvents>(name: K, listener: (data: EngineEvents[K]) => void): void;
  /** Like engine[method](...args), moving `transfer` to the worker. */
  callTransfer<K extends keyof Engine>(
    method: K,
    args: Parameters<Engine[K]>,
    transfer: Transferable[],
  ): ReturnType<Engine[K]>;
} {
  let next = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const listeners = new Map<string, ((data: unknown) => void)[]>();
  worker.onmessage = (event: MessageEvent<ReplyMessage | EventMessage>) => {
    const m = event.data;
    if (m.kind === 'reply') {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.ok) p?.resolve(m.value);
      else p?.reject(new Error(m.error));
    } else {
      for (const l of listeners.get(m.name) ?? []) l(m.data);
    }
  };
  const call = (method: keyof Engine, args: unknown[], transfer: Transferable[] = []) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      const message: CallMessage = { kind: 'call', id, method, args };
      worker.postMessage(message, transfer);
    });
  const engine = new Proxy({} as Remote, {
    get:
      (_, method: string) =>
      (...args: unknown[]) =>
        call(method as keyof Engine, args),
  });
  return {
    engine,
    on: (name, listener) => {
      const list = listeners.get(name) ?? [];
      list.push(listener as (data: unknown) => void);
      listeners.set(name, list);
    },
    callTransfer: (method, args, transfer) =>
      call(method, args as unknown[], transfer) as ReturnType<Engine[typeof method]>,
  };
}

/** The parts of a dedicated worker's global scope used here (the DOM lib has no worker types). */
export interface WorkerScope {
  onmessage: ((event: MessageEvent<CallMessage>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

/** The worker side: answers calls with `engine`, and returns the event sender. */
export function serveEngine(
  scope: WorkerScope,
  engine: Engine,
): <K extends keyof EngineEvents>(name: K, data: EngineEvents[K]) => void {
  scope.onmessage = async (event: MessageEvent<CallMessage>) => {
    const { id, method, args } = event.data;
    let reply: ReplyMessage;
    try {
      const fn = engine[method] as (...a: unknown[]) => Promise<unknown>;
      reply = { kind: 'reply', id, ok: true, value: await fn.apply(engine, args) };
    } catch (error) {
      console.error(error);
      reply = {
        kind: 'reply',
        id,
        ok: false,
        error: error instanceof Error ? error.message : String(error),
      };
    }
    scope.postMessage(reply);
  };
  return (name, data) => scope.postMessage({ kind: 'event', name, data } as EventMessage);
}
