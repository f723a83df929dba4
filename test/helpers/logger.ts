/** A logger for tests: silent unless TEST_LOG_LEVEL says otherwise. */
import { createLogger } from '../../src/logger.js';

export const quietLogger = () => createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
