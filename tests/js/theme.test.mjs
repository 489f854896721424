// The page's theme choice (static/js/theme.js): node --test tests/js
import assert from "node:assert/strict";
import { test } from "node:test";

import { chooseTheme } from "../../plugins/batch_monitor/api/static/js/theme.js";

test("the page's own ?theme= wins, then Airflow's stored choice, then the system's", () => {
  assert.equal(chooseTheme("light", "dark", true), "light");
  assert.equal(chooseTheme("dark", "light", false), "dark");
  assert.equal(chooseTheme(null, "dark", false), "dark");
  assert.equal(chooseTheme(null, "light", true), "light");
});

test("Airflow's \"system\" or no stored choice follows prefers-color-scheme", () => {
  assert.equal(chooseTheme(null, "system", true), "dark");
  assert.equal(chooseTheme(null, "system", false), "light");
  assert.equal(chooseTheme(null, null, true), "dark");
  assert.equal(chooseTheme("purple", "sepia", false), "light");
});
