/**
 * V8 flags the server process is started with (`npm start`, the Dockerfile's CMD, the service benchmarks); V8 reads
 * them only at start-up (setting them at run time crashes V8), so they live on the command line. A test checks that
 * every launcher carries them.
 *
 * `--single-threaded-gc`: each isolate (the main thread and every training thread) collects its own garbage on its
 * own thread. By default V8 also marks, sweeps and scavenges on helper threads; on a node whose cores are all taken
 * by training threads those helpers do not come free, they take turns with the training threads, and they cost more
 * in all than the work they take over: in a burst of 20 tutorial jobs on 2 training threads and 2 cores (Zen 4,
 * bench/RESULTS.md) the helper threads used 27–31 ms of CPU per job, the training threads the same 84–87 ms with or
 * without them, so the flag took a job's CPU from 207–213 to 182–192 ms and the throughput up by ~10%. One job on an
 * otherwise idle node is as fast either way (median 179–180 ms against 180–183 ms).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
