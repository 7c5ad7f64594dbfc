import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

/**
 * A test's need for a program from the system, such as Chromium or openssl. Returns what node:test
 * takes as `skip`: `false` when the program is there, else a reason naming the Debian package and
 * the command that installs it. Under CI (`CI=true`) a missing program throws instead, so that a
 * green CI run never hides a skipped test.
 *
 * `program` is an absolute path, or a bare name looked up in `PATH`.
 */
export function requireProgram(
  program: string,
  debianPackage: string,
  env: NodeJS.ProcessEnv = process.env,
): false | string {
  if (findProgram(program, env.PATH ?? "") !== undefined) return false;
  const reason = `${program} is not installed (Debian package ${debianPackage}: apt-get install -y ${debianPackage})`;
  if (env.CI === "true") throw new Error(`${reason}; CI=true, so this is a failure and not a skip`);
  return reason;
}

/** The executable file `program` names, or undefined. */
function findProgram(program: string, path: string): string | undefined {
  const candidates = isAbsolute(program)
    ? [program]
    : path
        .split(delimiter)
        .filter((dir) => dir !== "")
        .map((dir) => join(dir, program));
  return candidates.find(isExecutable);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
