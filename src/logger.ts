import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs to stdout (or `destination`). Subsystems take named children
 * (`logger.child({ subsystem: 'db' })`). Moderated text is never a field of a log line unless
 * LOG_CONTENT=true, and the redaction below is the safety net for the places that would otherwise carry it.
 */
export function createLogger(level: string, opts: { logContent?: boolean } = {}, destination?: DestinationStream): Logger {
  const content = ['text', 'context', 'input', '*.text', '*.context', '*.input', 'decisions[*].text', 'decisions[*].context'];
  return pino(
    {
      level,
      base: { service: 'modtune' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', ...(opts.logContent ? [] : content)],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
