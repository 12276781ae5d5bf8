// Submit the provider's answer form (too long for a URL) without waiting for a click.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("openid-autosubmit");
  if (form) { form.submit(); }
});
