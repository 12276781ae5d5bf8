// Provider buttons that need a username: open the inline field and focus it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("details.provider-username").forEach(function (box) {
    box.addEventListener("toggle", function () {
      if (!box.open) { return; }
      document.querySelectorAll("details.provider-username").forEach(function (other) {
        if (other !== box) { other.open = false; }
      });
      var input = box.querySelector("input");
      if (input) { input.focus(); }
    });
  });
});
