// Ask before submitting forms marked data-confirm="question": the CSP forbids inline handlers.
document.addEventListener("submit", function (event) {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
