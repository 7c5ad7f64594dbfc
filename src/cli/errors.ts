/** The command line itself is wrong (a flag value, a file); commander's own errors aside. Exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
