/**
 * The one error hierarchy: an HTTP status, a stable machine-readable code, and a message a person can
 * act on. The HTTP error handler turns these into {"error":{"code","message"}}; anything else is a 500.
 */
export class AppError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
    public readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError(400, code, message, details);
export const unauthorized = (message: string) => new AppError(401, 'unauthorized', message);
export const forbidden = (message: string) => new AppError(403, 'forbidden', message);
export const notFound = (what: string, id: string) => new AppError(404, 'not_found', `${what} ${JSON.stringify(id)} was not found`);
export const conflict = (code: string, message: string) => new AppError(409, code, message);
export const payloadTooLarge = (message: string) => new AppError(413, 'payload_too_large', message);
export const unavailable = (code: string, message: string) => new AppError(503, code, message);
