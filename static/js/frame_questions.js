// The sign-up form of an event with several participation frames: a question for one
// frame (data-frame-question="<frame id>") is shown only while that frame is chosen,
// and its required controls (data-required-control) are marked required then. Without
// JavaScript, or before a frame is chosen, every question is shown, each labelled with
// its frame, and the server checks only those of the frame chosen.
document.querySelectorAll("form[data-frame-questions]").forEach((form) => {
  const questions = form.querySelectorAll("[data-frame-question]");
  const show = () => {
    const chosen = form.querySelector('input[name="frame"]:checked');
    questions.forEach((question) => {
      const asked = chosen !== null && question.dataset.frameQuestion === chosen.value;
      question.hidden = chosen !== null && !asked;
      question.querySelectorAll("[data-required-control]").forEach((control) => {
        if (asked) {
          control.setAttribute("aria-required", "true");
        } else {
          control.removeAttribute("aria-required");
        }
      });
    });
  };
  form.addEventListener("change", (event) => {
    if (event.target.name === "frame") {
      show();
    }
  });
  show();
});
