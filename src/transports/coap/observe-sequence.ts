/** The Observe values of one observation's messages: 24 bits, each the next (RFC 7641 §4.4). */
export class ObserveSequence {
  #value = 0;

  next(): number {
    this.#value = (this.#value + 1) & 0xffffff;
    return this.#value;
  }
}
