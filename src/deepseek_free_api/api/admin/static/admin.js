// The admin page's scripts: key creation and revocation, and the playground. No build step.
// Changes carry the page's CSRF token (X-Admin-CSRF) next to the SameSite=Strict session cookie.
"use strict";

const csrf = document.querySelector('meta[name="admin-csrf"]')?.content ?? "";

async function act(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Admin-CSRF": csrf },
    body: JSON.stringify(body ?? {}),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data?.error?.message ?? `HTTP ${response.status}`);
  return data;
}

function formObject(form) {
  return Object.fromEntries(new FormData(form).entries());
}

const createForm = document.getElementById("create-key");
if (createForm) {
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = document.getElementById("new-key");
    const value = document.getElementById("new-key-value");
    try {
      const created = await act("/admin/api/keys", formObject(createForm));
      value.textContent = created.key;
      box.classList.remove("hidden", "error");
      createForm.reset();
    } catch (error) {
      value.textContent = error.message;
      box.classList.remove("hidden");
      box.classList.add("error");
    }
  });
}

for (const button of document.querySelectorAll("button.revoke")) {
  button.addEventListener("click", async () => {
    if (!window.confirm(`Revoke ${button.dataset.name}? It is refused at once.`)) return;
    try {
      await act(`/admin/api/keys/${encodeURIComponent(button.dataset.name)}/revoke`);
      window.location.reload();
    } catch (error) {
      window.alert(error.message);
    }
  });
}

const play = document.getElementById("playground");
if (play) {
  play.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = formObject(play);
    const status = document.getElementById("play-status");
    const output = document.getElementById("play-output");
    status.textContent = "sending…";
    delete status.dataset.done;
    output.textContent = "";
    const headers = { "Content-Type": "application/json" };
    if (fields.key) headers.Authorization = `Bearer ${fields.key}`;
    try {
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers,
        credentials: "omit",
        body: JSON.stringify({ model: fields.model, messages: [{ role: "user", content: fields.message }] }),
      });
      const data = await response.json().catch(() => ({}));
      status.textContent = String(response.status);
      output.textContent = response.ok
        ? data?.choices?.[0]?.message?.content ?? ""
        : data?.error?.message ?? JSON.stringify(data);
    } catch (error) {
      status.textContent = "failed";
      output.textContent = error.message;
    }
    status.dataset.done = "";  // the answer is shown (tests and screen readers wait for this)
  });
}
