// Building the dashboard's DOM without ever parsing HTML: `h()` creates an element, sets
// attributes and listeners, and appends children as nodes or as text (so a name typed by a
// user can never become markup — the XSS rule of docs/architecture.md "Web pages").

/** `h("button", {class: "primary", onclick: fn}, "Larma")`; null/false children are skipped. */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "value" || name === "checked" || name === "selected") {
      node[name] = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

let counter = 0;

/** A page-unique id for label/aria wiring. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled field: `<label for>` + the control (input, select or textarea). */
export function field(labelText, control, hint = "") {
  if (!control.id) control.id = uid("field");
  const parts = [h("label", { for: control.id }, labelText)];
  if (hint) {
    const hintId = `${control.id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  parts.push(control);
  return h("div", { class: "field" }, ...parts);
}

/** A radio group as a fieldset with a legend; `options` are [value, label] pairs. */
export function radioGroup(legend, name, options, checked, { onchange } = {}) {
  const set = h("fieldset", { class: "choices" }, h("legend", {}, legend));
  for (const [value, label, extraClass] of options) {
    const id = uid(name);
    const input = h("input", { type: "radio", name, id, value, checked: value === checked, onchange });
    set.append(h("div", { class: `choice ${extraClass ?? ""}`.trim() }, input, h("label", { for: id }, label)));
  }
  return set;
}

/** The value of the checked radio called `name` inside `root`. */
export function checkedValue(root, name) {
  return root.querySelector(`input[name="${name}"]:checked`)?.value ?? null;
}

/** A table with a caption, column headers and rows of cells (strings or nodes). */
export function table(caption, headers, rows, { className = "grid" } = {}) {
  return h(
    "table",
    { class: className },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
    h(
      "tbody",
      {},
      rows.map((cells) =>
        h(
          "tr",
          {},
          cells.map((cell, index) => (index === 0 ? h("th", { scope: "row" }, cell) : h("td", {}, cell))),
        ),
      ),
    ),
  );
}

/** Local time of an ISO timestamp, e.g. "09:14:03" (today) or "2026-11-25 09:14". */
export function clock(iso, { seconds = true } = {}) {
  if (!iso) return "–";
  const date = new Date(iso);
  const time = date.toLocaleTimeString("sv-SE", seconds ? {} : { hour: "2-digit", minute: "2-digit" });
  const today = new Date().toDateString() === date.toDateString();
  return today ? time : `${date.toLocaleDateString("sv-SE")} ${time}`;
}

/** Milliseconds as seconds with one decimal ("1,3 s"), or "–". */
export function seconds(ms, lang = "sv") {
  if (ms === null || ms === undefined) return "–";
  return `${(ms / 1000).toLocaleString(lang === "sv" ? "sv-SE" : "en-GB", { maximumFractionDigits: 1 })} s`;
}
