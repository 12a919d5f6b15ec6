/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after jest's own
 * summary, so any CI that reads closing lines can count the run.
 */
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`);
  }
}
