// The staff PWA: not built yet (issue 10).
document.getElementById("app").textContent = "PDV-larm";
