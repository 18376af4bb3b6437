// Buttons marked data-print open the browser's print dialog. They are hidden until this
// script runs, so without JavaScript the page offers only the browser's own print command.
document.querySelectorAll("button[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
  button.hidden = false;
});
