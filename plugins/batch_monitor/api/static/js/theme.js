/* Theme: light or dark (see main.js for now). */

function parentRoot() {
  try {
    if (window.parent && window.parent !== window) return window.parent.document.documentElement;
  } catch (e) {
    /* not same-origin: no parent theme to follow */
  }
  return null;
}

function currentTheme() {
  const forced = new URLSearchParams(location.search).get("theme");
  if (forced === "dark" || forced === "light") return forced;
  const root = parentRoot();
  if (root) {
    if (root.classList.contains("dark")) return "dark";
    if (root.classList.contains("light")) return "light";
  }
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme() {
  document.documentElement.dataset.theme = currentTheme();
}

export function watchTheme() {
  applyTheme();
  const root = parentRoot();
  if (root) new MutationObserver(applyTheme).observe(root, { attributes: true, attributeFilter: ["class", "style"] });
  if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
}
