// Provider buttons that need a username: open one inline field at a time and put the cursor in it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var boxes = document.querySelectorAll("details.provider-username");
  boxes.forEach(function (box) {
    box.addEventListener("toggle", function () {
      if (!box.open) { return; }
      boxes.forEach(function (other) {
        if (other !== box) { other.open = false; }
      });
      var input = box.querySelector("input");
      if (input) { input.focus(); }
    });
    // Escape closes the field and gives the focus back to the provider button.
    box.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && box.open) {
        box.open = false;
        box.querySelector("summary").focus();
      }
    });
  });
});
