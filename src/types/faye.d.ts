/** The part of faye's client API the bridge and its tests use (faye ships no types). */
declare module 'faye' {
  export interface Extension {
    incoming?(message: any, callback: (message: any) => void): void;
    outgoing?(message: any, callback: (message: any) => void): void;
  }
  export interface Subscription extends PromiseLike<void> {
    cancel(): void;
    unsubscribe(): void;
    withChannel(cb: (channel: string, message: any) => void): Subscription;
  }
  export interface ClientOptions {
    timeout?: number;
    retry?: number;
    interval?: number;
    endpoints?: Record<string, string>;
  }
  export class Client {
    constructor(endpoint: string, options?: ClientOptions);
    disable(feature: string): void;
    setHeader(name: string, value: string): void;
    addExtension(extension: Extension): void;
    removeExtension(extension: Extension): void;
    subscribe(channel: string, callback: (message: any) => void): Subscription;
    unsubscribe(channel: string, callback?: (message: any) => void): void;
    publish(channel: string, data: unknown): PromiseLike<void>;
    connect(callback?: () => void): void;
    disconnect(): PromiseLike<void> | undefined;
    on(event: string, callback: (...args: any[]) => void): void;
  }
  export class NodeAdapter {
    constructor(options: { mount: string; timeout?: number; engine?: unknown });
    attach(server: unknown): void;
    getClient(): Client;
    addExtension(extension: Extension): void;
    close(): void;
  }
  export const logger: unknown;
  const faye: { Client: typeof Client; NodeAdapter: typeof NodeAdapter; logger: unknown };
  export default faye;
}
