/*
 * Light or dark, following Airflow's theme without reading the parent window's DOM.
 *
 * Airflow 3's UI (next-themes) keeps the user's choice in localStorage under "theme" ("light",
 * "dark" or "system"), and this page runs in an iframe of the same origin, so it shares that
 * storage: the page reads it at start, and the browser's "storage" event tells it when the user
 * switches in Airflow (Airflow posts no message to plugin iframes). "system", nothing stored, or
 * the page on its own tab: the browser's prefers-color-scheme. ?theme=dark|light in the page's own
 * URL wins over both.
 */

const AIRFLOW_THEME_KEY = "theme";
const SYSTEM_DARK = "(prefers-color-scheme: dark)";

/** "dark" or "light" from what is asked for: the URL's ?theme=, Airflow's stored choice, the system's. */
export function chooseTheme(forced, stored, systemDark) {
  if (forced === "dark" || forced === "light") return forced;
  if (stored === "dark" || stored === "light") return stored;
  return systemDark ? "dark" : "light";
}

function storedTheme() {
  try {
    return window.localStorage.getItem(AIRFLOW_THEME_KEY);
  } catch (e) {
    return null; // storage blocked: follow the system
  }
}

function applyTheme() {
  const forced = new URLSearchParams(location.search).get("theme");
  const systemDark = Boolean(window.matchMedia && window.matchMedia(SYSTEM_DARK).matches);
  document.documentElement.dataset.theme = chooseTheme(forced, storedTheme(), systemDark);
}

export function watchTheme() {
  applyTheme();
  window.addEventListener("storage", (event) => {
    if (event.key === AIRFLOW_THEME_KEY || event.key === null) applyTheme();
  });
  if (window.matchMedia) window.matchMedia(SYSTEM_DARK).addEventListener("change", applyTheme);
}
