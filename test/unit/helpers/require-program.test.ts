import * as assert from "node:assert/strict";
import { basename, dirname, join } from "node:path";
import { describe, it } from "node:test";
import { requireProgram } from "../../helpers/require-program.js";

/** Node's own binary stands in for a program that is installed. */
const present = { dir: dirname(process.execPath), name: basename(process.execPath) };
/** Missing by absolute path, and by name in a PATH made only of Node's directory. */
const absent = join(present.dir, "heck-no-such-program");

describe("requireProgram", () => {
  it("does not skip when the program is there, by absolute path or by name in PATH", () => {
    assert.equal(requireProgram(process.execPath, "nodejs", {}), false);
    assert.equal(requireProgram(present.name, "nodejs", { PATH: present.dir }), false);
    assert.equal(requireProgram(present.name, "nodejs", { PATH: present.dir, CI: "true" }), false);
  });

  it("on a developer machine, skips a missing program naming its package and install command", () => {
    assert.equal(
      requireProgram(absent, "chromium", {}),
      `${absent} is not installed (Debian package chromium: apt-get install -y chromium)`,
    );
    assert.equal(
      requireProgram("heck-no-such-program", "heck-tools", { PATH: present.dir }),
      "heck-no-such-program is not installed (Debian package heck-tools: apt-get install -y heck-tools)",
    );
  });

  it("does not count a directory as the program", () => {
    assert.match(requireProgram(present.dir, "nodejs", {}) || "", /is not installed/);
  });

  it("under CI=true, a missing program is an error, not a skip", () => {
    assert.throws(() => requireProgram(absent, "chromium", { CI: "true" }), {
      message: /apt-get install -y chromium.*CI=true/,
    });
    assert.throws(
      () => requireProgram("heck-no-such-program", "heck-tools", { PATH: present.dir, CI: "true" }),
      /heck-no-such-program is not installed/,
    );
  });

  it("only CI=true means CI", () => {
    assert.equal(typeof requireProgram(absent, "chromium", { CI: "false" }), "string");
  });
});
