// Session recording: tamper-evident event chains, spool with group commit, sinks, readers.
export { createRecorder } from './recorder.js';
export { SpoolInUse } from './lock.js';
export { fileSink, dirSource, type FileSinkOptions } from './sinks/file.js';
export { s3Sink, type S3SinkOptions } from './sinks/s3.js';
export { stdoutSink } from './sinks/stdout.js';
export { verifyRecording, type VerifyReport, type VerifyOptions, type Finding } from './verify.js';
export {
  createReader,
  timeline,
  type RecordingReader,
  type SessionSummary,
  type SessionFilter,
  type TimelineEntry,
} from './read.js';
export type { RecordedEvent } from './event.js';
export * from './types.js';
