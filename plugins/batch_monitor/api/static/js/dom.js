/*
 * DOM helpers. Every piece of data reaches the page through textContent or element properties,
 * never through innerHTML, so error text that contains HTML or script is shown as text.
 */

export const $ = (id) => document.getElementById(id);

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "style") Object.assign(el.style, value);
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key in el && typeof value !== "string") el[key] = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** One label/value pair of a detail grid (<dl>); over marks a value past its limit. */
export function detailPair(label, value, over) {
  return h("div", null, h("dt", { text: label }), h("dd", { class: over ? "over" : null, text: value }));
}

let toastTimer = null;
export function toast(message, isError) {
  const el = $("toast");
  el.textContent = message;
  el.classList.toggle("error", Boolean(isError));
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 9000 : 5000);
}

export function showProblem(message) {
  const el = $("problem");
  el.textContent = message || "";
  el.hidden = !message;
}
