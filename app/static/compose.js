// The post form's character counter; the server checks the length again.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var body = document.getElementById("body");
  var counter = document.getElementById("body-count");
  if (!body || !counter) { return; }
  var limit = parseInt(body.getAttribute("data-limit"), 10) || 140;

  function update() {
    // Count characters as the server does: code points, one newline style, no blank edges.
    var used = Array.from(body.value.replace(/\r\n?/g, "\n").trim()).length;
    var left = limit - used;
    counter.textContent = left >= 0
      ? left + (left === 1 ? " character" : " characters") + " left"
      : -left + (left === -1 ? " character" : " characters") + " too many";
    counter.classList.toggle("is-near", left >= 0 && left <= 20);
    counter.classList.toggle("is-over", left < 0);
  }

  body.addEventListener("input", update);
  update();
});
