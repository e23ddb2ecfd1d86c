// The embedded digits in a browser app: a separate entry, so that only apps that use them need the
// `mnist` package; the bundler puts its JSON in a chunk loaded on first use.
import { EMBEDDED_DIGIT_COUNT, loadEmbeddedDigits, type EmbeddedDigits } from 'webgpu-vae/digits';

export async function digitsExample(): Promise<EmbeddedDigits> {
  const digits = await loadEmbeddedDigits({ trainCount: 9000, testCount: 1000, seed: 1 });
  console.log(digits.train.count + digits.test.count === EMBEDDED_DIGIT_COUNT);
  return digits;
}
