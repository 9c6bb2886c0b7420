// The leaders' dashboard: not built yet (issue 10).
document.getElementById("app").textContent = "PDV-larm – ledning";
