// Building the PWA's DOM without HTML strings: every text from the server or the person goes
// in as textContent (never innerHTML), and no element gets a style attribute (the CSP
// forbids inline style; looks are classes in css/pwa.css).

/** `el("button", {type: "button", class: "big"}, "Larma", child…)`: attributes are set as
 * given (false/null/undefined leave one out, true sets it empty); strings become text. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Run `handler` on click, with the button disabled while its promise runs. */
export function onPress(button, handler) {
  button.addEventListener("click", async (event) => {
    if (button.disabled) return;
    button.disabled = true;
    try {
      await handler(event);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
