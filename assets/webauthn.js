// Passkeys on Tessera's pages. A button with data-webauthn="get" or "create" fetches
// the ceremony's options from data-begin (posting the fields of the form named by
// data-form), asks the browser's authenticator, and submits that form with the
// answer. Without JavaScript the buttons stay hidden and the pages work with codes.
"use strict";
(function () {
  if (!window.PublicKeyCredential) {
    return;
  }
  function decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  }
  function encode(buffer) {
    let text = "";
    new Uint8Array(buffer).forEach((b) => { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creation(options) {
    const pk = options.publicKey;
    pk.challenge = decode(pk.challenge);
    pk.user.id = decode(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = decode(c.id); });
    return { publicKey: pk };
  }
  function request(options) {
    const pk = options.publicKey;
    pk.challenge = decode(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = decode(c.id); });
    return { publicKey: pk };
  }
  function created(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults(),
      response: {
        attestationObject: encode(r.attestationObject),
        clientDataJSON: encode(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : [],
      },
    };
  }
  function asserted(credential) {
    const r = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults(),
      response: {
        authenticatorData: encode(r.authenticatorData),
        clientDataJSON: encode(r.clientDataJSON),
        signature: encode(r.signature),
        userHandle: r.userHandle ? encode(r.userHandle) : null,
      },
    };
  }
  function fail(button, message) {
    const note = document.getElementById(button.dataset.note);
    if (note) {
      note.textContent = message;
      note.hidden = false;
    }
  }
  document.querySelectorAll("[data-webauthn]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", async (event) => {
      event.preventDefault();
      const form = document.getElementById(button.dataset.form);
      const begun = await fetch(button.dataset.begin, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
      if (!begun.ok) {
        fail(button, "This could not be started. Reload the page and try again.");
        return;
      }
      const ceremony = await begun.json();
      let answer;
      try {
        answer = button.dataset.webauthn === "create"
          ? created(await navigator.credentials.create(creation(ceremony.options)))
          : asserted(await navigator.credentials.get(request(ceremony.options)));
      } catch (e) {
        fail(button, "The passkey was not used.");
        return;
      }
      form.elements.handle.value = ceremony.handle;
      form.elements.credential.value = JSON.stringify(answer);
      form.submit();
    });
  });
})();
