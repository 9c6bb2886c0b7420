// Texts in Swedish (default) and English. Each page module adds its own table with
// `addTexts`; `t(key, values)` looks a text up in the current language, falling back to
// Swedish, and fills `{name}` placeholders. The choice is kept in localStorage and shown on
// <html lang>; `onLanguage` lets a page re-render when it changes.

const STORAGE_KEY = "pdv-alert.language";
const LANGUAGES = ["sv", "en"];
const TEXTS = { sv: {}, en: {} };
const listeners = new Set();
let current = readStored();

function readStored() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    return LANGUAGES.includes(stored) ? stored : "sv";
  } catch {
    return "sv";
  }
}

export function addTexts(table) {
  for (const lang of LANGUAGES) Object.assign(TEXTS[lang], table[lang] ?? {});
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang) || lang === current) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // private mode: the choice lasts for this page only
  }
  document.documentElement.lang = lang;
  for (const listener of listeners) listener(lang);
}

export function onLanguage(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The other language's switch label: "English" on a Swedish page, "Svenska" on an English one. */
export function switchLabel() {
  return current === "sv" ? "English" : "Svenska";
}

export function toggleLanguage() {
  setLanguage(current === "sv" ? "en" : "sv");
}

export function t(key, values = {}) {
  const text = TEXTS[current][key] ?? TEXTS.sv[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in values ? String(values[name]) : match));
}

/** A text of the alert itself ({sv, en}) in the current language. */
export function localized(pair) {
  if (!pair) return "";
  return pair[current] || pair.sv || pair.en || "";
}

document.documentElement.lang = current;
