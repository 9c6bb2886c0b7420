// Devices and enrollment codes (MANAGE_DEVICES). Devices: rename, move to a zone of their
// site, revoke (asked once more: a revoked device stops receiving alerts). Codes: create one
// for a site (zone, kind, uses) and show it once, with its QR code — the server's `qr_svg`
// shown as an <img> from a blob: URL, never parsed into the page — and revoke codes.

import { del, getJson, patchJson, postJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { clock, field, h } from "./dom.js";

const DEVICE_KINDS = ["desktop", "web", "ios", "integration"];

export function renderDevicesView(session) {
  const status = h("p", { class: "status", role: "status" });
  const devicesHolder = h("div");
  const codesHolder = h("div");
  const created = h("div", { class: "created-code", "aria-live": "polite" });
  const sites = session.sitesWhere("manage_devices");
  let qrUrl = null;
  session.onDispose(() => qrUrl && URL.revokeObjectURL(qrUrl));

  function fail(error) {
    if (!session.checkExpired(error)) status.textContent = t("common.failed", { message: error.message });
  }

  async function act(call, reload) {
    status.textContent = "";
    try {
      await call();
      status.textContent = t("devices.saved");
      await reload();
    } catch (error) {
      fail(error);
    }
  }

  async function loadDevices() {
    try {
      const devices = await getJson("devices");
      devicesHolder.replaceChildren(
        h(
          "table",
          { class: "grid" },
          h("caption", {}, t("devices.heading")),
          h("thead", {}, h("tr", {}, [t("coverage.device"), t("coverage.kind"), t("coverage.site"), t("coverage.zone"), t("coverage.last_seen"), ""].map((text) => h("th", { scope: "col" }, text)))),
          h("tbody", {}, devices.map(deviceRow)),
        ),
      );
    } catch (error) {
      fail(error);
    }
  }

  function deviceRow(device) {
    const revoked = Boolean(device.revoked_at);
    const name = h("input", { value: device.name, maxlength: 100, "aria-label": t("devices.new_name", { name: device.name }) });
    const zones = session.sitesById.get(device.site_id)?.zones ?? [];
    const zone = h(
      "select",
      { "aria-label": t("devices.move", { name: device.name }) },
      h("option", { value: "", selected: device.zone_id === null }, t("codes.any_zone")),
      zones.map((z) => h("option", { value: z.id, selected: z.id === device.zone_id }, z.name)),
    );
    const actions = h("td", { class: "actions" });
    if (revoked) {
      actions.append(t("coverage.revoked"));
    } else {
      actions.append(
        h(
          "button",
          {
            type: "button",
            onclick: () => act(() => patchJson(`devices/${device.id}`, { name: name.value.trim(), zone_id: zone.value ? Number(zone.value) : null }), loadDevices),
          },
          t("common.save"),
        ),
        h("button", { type: "button", class: "danger", onclick: () => confirmRevoke(device, actions) }, t("devices.revoke")),
      );
    }
    return h(
      "tr",
      { class: revoked ? "revoked" : null },
      h("th", { scope: "row" }, revoked ? device.name : name),
      h("td", {}, device.kind),
      h("td", {}, session.siteName(device.site_id)),
      h("td", {}, revoked ? session.zoneName(device.site_id, device.zone_id) ?? "–" : zone),
      h("td", {}, device.last_seen_at ? clock(device.last_seen_at) : t("coverage.never")),
      actions,
    );
  }

  function confirmRevoke(device, cell) {
    const yes = h("button", { type: "button", class: "danger", onclick: () => act(() => postJson(`devices/${device.id}/revoke`), loadDevices) }, t("devices.revoke"));
    cell.replaceChildren(h("span", {}, t("devices.confirm_revoke", { name: device.name })), " ", yes, h("button", { type: "button", onclick: loadDevices }, t("alert.confirm_no")));
    yes.focus();
  }

  async function loadCodes() {
    try {
      const codes = await getJson("enrollment-codes");
      codesHolder.replaceChildren(
        h(
          "table",
          { class: "grid" },
          h("caption", {}, t("codes.heading")),
          h("thead", {}, h("tr", {}, [t("codes.label"), t("codes.site"), t("codes.kind"), t("codes.uses"), t("codes.state"), ""].map((text) => h("th", { scope: "col" }, text)))),
          h(
            "tbody",
            {},
            codes.map((code) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, code.label || `#${code.id}`),
                h("td", {}, session.siteName(code.site_id)),
                h("td", {}, code.device_kind ?? t("codes.any_kind")),
                h("td", {}, `${code.uses}/${code.max_uses}`),
                h("td", {}, code.state),
                h("td", {}, code.state === "active" ? h("button", { type: "button", onclick: () => act(() => del(`enrollment-codes/${code.id}`), loadCodes) }, t("codes.revoke")) : ""),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      fail(error);
    }
  }

  function codeForm() {
    const site = h("select", { name: "site" }, sites.map((s) => h("option", { value: s.id }, s.name)));
    const zone = h("select", { name: "zone" });
    const fillZones = () =>
      zone.replaceChildren(
        h("option", { value: "" }, t("codes.any_zone")),
        ...(session.sitesById.get(Number(site.value))?.zones ?? []).map((z) => h("option", { value: z.id }, z.name)),
      );
    site.addEventListener("change", fillZones);
    fillZones();
    const kind = h("select", { name: "kind" }, h("option", { value: "" }, t("codes.any_kind")), DEVICE_KINDS.map((k) => h("option", { value: k }, k)));
    const uses = h("input", { type: "number", min: 1, max: 1000, value: "1", name: "uses" });
    const label = h("input", { name: "label", maxlength: 100 });
    const form = h(
      "form",
      { class: "panel code-form" },
      h("h2", {}, t("codes.create")),
      field(t("codes.site"), site),
      field(t("codes.zone"), zone),
      field(t("codes.kind"), kind),
      field(t("codes.uses"), uses),
      field(t("codes.label"), label),
      h("button", { type: "submit", class: "primary" }, t("codes.create")),
      created,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.textContent = "";
      try {
        const answer = await postJson("enrollment-codes", {
          site_id: Number(site.value),
          zone_id: zone.value ? Number(zone.value) : null,
          device_kind: kind.value || null,
          max_uses: Math.max(1, Number(uses.value) || 1),
          label: label.value.trim(),
        });
        showCode(answer);
        loadCodes();
      } catch (error) {
        fail(error);
      }
    });
    return form;
  }

  function showCode(answer) {
    if (qrUrl) URL.revokeObjectURL(qrUrl);
    qrUrl = URL.createObjectURL(new Blob([answer.qr_svg], { type: "image/svg+xml" }));
    created.replaceChildren(
      h("p", { class: "code" }, t("codes.created", { code: answer.code })),
      h("img", { class: "qr", src: qrUrl, alt: t("codes.qr_alt", { url: answer.enroll_url }), width: 240, height: 240 }),
      h("p", {}, h("a", { href: answer.enroll_url }, answer.enroll_url)),
    );
  }

  loadDevices();
  loadCodes();
  return h("div", { class: "devices-view" }, h("h1", {}, t("view.devices")), status, sites.length ? codeForm() : null, codesHolder, devicesHolder);
}
