/**
 * A one-line progress bar on stderr, redrawn in place. Only for a terminal: the caller decides,
 * and piped or captured stderr never sees carriage returns.
 */
export class ProgressBar {
  readonly #write: (text: string) => void;
  readonly #total: number;
  readonly #label: string;
  readonly #width = 30;

  constructor(write: (text: string) => void, total: number, label: string) {
    this.#write = write;
    this.#total = Math.max(1, total);
    this.#label = label;
  }

  update(done: number): void {
    const share = Math.min(1, done / this.#total);
    const filled = Math.round(share * this.#width);
    const bar = `${"#".repeat(filled)}${"-".repeat(this.#width - filled)}`;
    this.#write(`\r${this.#label} [${bar}] ${done}/${this.#total} ${Math.floor(share * 100)}%`);
  }

  /** Clears the line, so that what follows starts on a clean one. */
  done(): void {
    this.#write("\r\u001b[2K");
  }
}
