// 网上信访: the petitioner's page. Plain script, no libraries; it talks only to this
// server's /v1/petitioner API. The session token lives in this page's memory only.
"use strict";

(function () {
  const API = "/v1/petitioner";
  let session = null;
  let offices = [];

  const $ = (id) => document.getElementById(id);

  // Field paths of a 422 answer, as the petitioner knows them.
  const FIELD_LABELS = {
    office: "信访工作机构",
    township: "乡镇",
    classification: "信访事项类别",
    "petitioner.name": "姓名",
    "petitioner.phone": "手机号码",
    "petitioner.id_number": "居民身份证号码",
    "petitioner.address": "通讯地址",
    request: "信访请求",
    facts: "事实",
    reasons: "理由",
    query_code: "查询码",
    otp: "验证码",
    rating: "满意度评价",
  };

  // The case view's fields, in the order shown. Anything else the server adds is
  // shown after them under its own name.
  const VIEW_LABELS = [
    ["case_id", "事项编号"],
    ["stage_label", "办理阶段"],
    ["status_label", "办理状态"],
    ["registered_by", "登记机关"],
    ["handling_unit", "办理单位"],
    ["received_on", "收到日期"],
    ["registered_on", "登记日期"],
    ["accepted_on", "受理日期"],
    ["replied_on", "答复日期"],
    ["delivered_on", "答复送达日期"],
    ["closed_on", "办结日期"],
    ["rating_label", "满意度评价"],
  ];
  const NOT_SHOWN = new Set([
    "stage", "rating", "can_rate", "can_request_review", "replies", "reply",
    "review_reply", "request_id", "next_deadline",
  ]);
  const REPLY_LABELS = [
    ["outcome_label", "处理结果"],
    ["decision", "处理意见"],
    ["legal_basis", "依据"],
  ];
  const RATING_LABELS = {
    satisfied: "满意", basically_satisfied: "基本满意", dissatisfied: "不满意",
  };

  class ProblemError extends Error {
    constructor(status, body) {
      super((body && body.detail) || "请求失败（" + status + "）");
      this.status = status;
      this.code = body && body.code;
      this.body = body;
    }
  }

  async function call(method, path, body, token) {
    const headers = { Accept: "application/json, application/problem+json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (e) {
      throw new ProblemError(0, { code: "network", detail: "无法连接服务器，请检查网络后重试" });
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) throw new ProblemError(response.status, data);
    return data;
  }

  function explain(error) {
    if (!(error instanceof ProblemError)) return "出现错误：" + String(error);
    let text = error.message;
    if (error.code === "invalid_request" && error.body && error.body.detail) {
      const fields = [];
      for (const part of String(error.body.detail).split("; ")) {
        const path = part.split(":")[0].trim();
        const label = FIELD_LABELS[path];
        if (label && !fields.includes(label)) fields.push(label);
      }
      if (fields.length) {
        text = "以下内容填写有误，请检查：" + fields.join("、") + "（" + error.body.detail + "）";
      }
    }
    return text;
  }

  function showError(box, error) {
    box.textContent = error ? explain(error) : "";
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function busy(button, on) {
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
  }

  // ---- submit ------------------------------------------------------------------

  function fillOffices(answer) {
    offices = answer.offices || [];
    const office = $("office");
    office.replaceChildren(el("option", { value: "" }, "请选择"));
    for (const o of offices) office.append(el("option", { value: o.id }, o.name));
    const classification = $("classification");
    classification.replaceChildren(el("option", { value: "" }, "请选择"));
    for (const c of answer.classifications || []) {
      classification.append(el("option", { value: c.value }, c.label));
    }
    officeChanged();
  }

  function officeChanged() {
    const chosen = offices.find((o) => o.id === $("office").value);
    const township = $("township");
    township.replaceChildren(el("option", { value: "" }, "不选择乡镇"));
    for (const t of (chosen && chosen.townships) || []) township.append(el("option", { value: t }, t));
    township.disabled = !chosen || !(chosen.townships || []).length;
    $("office-place").textContent = chosen ? "所在地：" + chosen.place : "";
  }

  function missing(ids) {
    const empty = ids.filter((id) => !$(id).value.trim());
    for (const id of ids) $(id).setAttribute("aria-invalid", empty.includes(id) ? "true" : "false");
    if (empty.length) $(empty[0]).focus();
    return empty.map((id) => document.querySelector("label[for='" + id + "']").firstChild.textContent.trim());
  }

  async function submitPetition(event) {
    event.preventDefault();
    const error = $("submit-error");
    showError(error, null);
    const empty = missing(["office", "classification", "name", "phone", "request", "facts", "reasons"]);
    if (empty.length) {
      error.textContent = "请填写：" + empty.join("、");
      return;
    }
    const petitioner = { name: $("name").value.trim(), phone: $("phone").value.trim() };
    if ($("id_number").value.trim()) petitioner.id_number = $("id_number").value.trim();
    if ($("address").value.trim()) petitioner.address = $("address").value.trim();
    const body = {
      office: $("office").value,
      township: $("township").value || null,
      classification: $("classification").value,
      petitioner,
      request: $("request").value.trim(),
      facts: $("facts").value.trim(),
      reasons: $("reasons").value.trim(),
    };
    const button = $("submit-button");
    busy(button, true);
    $("submit-result").textContent = "正在提交……";
    try {
      const answer = await call("POST", "/petitions", body);
      showSubmitted(answer);
      $("submit-form").reset();
      officeChanged();
    } catch (e) {
      $("submit-result").textContent = "";
      showError(error, e);
    } finally {
      busy(button, false);
    }
  }

  function showSubmitted(answer) {
    const heading = el("h3", { id: "submitted-title", tabindex: "-1" }, "信访事项已提交");
    const copy = el("button", { type: "button", id: "use-code" }, "用此查询码查询进度");
    copy.addEventListener("click", () => {
      $("query-code").value = answer.query_code;
      $("query-code").focus();
    });
    const box = el("div", { class: "submitted" },
      heading,
      el("dl", {},
        el("dt", {}, "事项编号"),
        el("dd", { id: "case-id" }, answer.case_id),
        el("dt", {}, "查询码"),
        el("dd", {}, el("strong", { id: "query-code-shown", class: "code" }, answer.query_code))),
      el("p", { class: "keep" },
        "请立即抄写或截图保存查询码。查询码只显示这一次，系统不保存其原文，遗失后无法找回；" +
        "凭查询码和发送到您手机的验证码可以查询办理进度、评价答复和申请复查。请勿告诉他人。"),
      copy);
    $("submit-result").replaceChildren(box);
    heading.focus();
  }

  // ---- track -------------------------------------------------------------------

  async function requestCode(event) {
    event.preventDefault();
    const error = $("track-error");
    showError(error, null);
    if (missing(["query-code"]).length) {
      error.textContent = "请输入查询码";
      return;
    }
    const button = $("code-button");
    busy(button, true);
    try {
      const answer = await call("POST", "/codes", { query_code: $("query-code").value.trim() });
      $("track-status").textContent = (answer && answer.detail) || "验证码已发送";
      $("otp").focus();
    } catch (e) {
      showError(error, e);
    } finally {
      busy(button, false);
    }
  }

  async function openSession(event) {
    event.preventDefault();
    const error = $("track-error");
    showError(error, null);
    const empty = missing(["query-code", "otp"]);
    if (empty.length) {
      error.textContent = "请输入：" + empty.join("、");
      return;
    }
    const button = $("session-button");
    busy(button, true);
    try {
      const answer = await call("POST", "/sessions", {
        query_code: $("query-code").value.trim(),
        otp: $("otp").value.trim(),
      });
      session = answer.session;
      $("otp").value = "";
      $("track-status").textContent = "验证成功。";
      await loadCase(true);
    } catch (e) {
      showError(error, e);
    } finally {
      busy(button, false);
    }
  }

  async function loadCase(focus) {
    const error = $("track-error");
    showError(error, null);
    try {
      renderCase(await call("GET", "/case", undefined, session), focus);
    } catch (e) {
      if (e.code === "session_expired") endSession();
      showError(error, e);
    }
  }

  function endSession() {
    session = null;
    $("case-view").replaceChildren();
    $("rating-box").hidden = true;
    $("review-form").hidden = true;
    $("evaluate-status").replaceChildren(el("p", {}, "查询已过期，请重新获取验证码后查询。"));
  }

  function text(value) {
    if (value === null || value === undefined || value === "") return null;
    if (typeof value === "boolean") return value ? "是" : "否";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function renderReply(reply, title) {
    const dl = el("dl", {});
    for (const [key, label] of REPLY_LABELS) {
      const value = text(reply[key]);
      if (value !== null) dl.append(el("dt", {}, label), el("dd", {}, value));
    }
    for (const [key, value] of Object.entries(reply)) {
      if (key === "kind" || key === "outcome" || REPLY_LABELS.some(([k]) => k === key)) continue;
      const shown = text(value);
      if (shown !== null) dl.append(el("dt", {}, key), el("dd", {}, shown));
    }
    return el("article", { class: "reply" }, el("h4", {}, reply.kind || title), dl);
  }

  function renderCase(view, focus) {
    const dl = el("dl", { id: "case-fields" });
    const seen = new Set();
    for (const [key, label] of VIEW_LABELS) {
      seen.add(key);
      const value = text(view[key]);
      if (value !== null) dl.append(el("dt", {}, label), el("dd", { "data-field": key }, value));
    }
    const window_ = view.next_deadline; // the petitioner's own next window, if any
    if (window_) {
      dl.append(el("dt", {}, "需要您注意的期限"), el("dd", { "data-field": "next_deadline" },
        window_.label + "：至" + window_.due_on + "（含当日）"));
    }
    for (const [key, value] of Object.entries(view)) {
      if (seen.has(key) || NOT_SHOWN.has(key) || key.startsWith("can_")) continue;
      const shown = text(value);
      if (shown !== null) dl.append(el("dt", {}, key), el("dd", { "data-field": key }, shown));
    }
    const replies = [];
    for (const r of view.replies || []) replies.push(renderReply(r, "书面答复"));
    if (view.reply) replies.push(renderReply(view.reply, "答复意见"));
    if (view.review_reply) replies.push(renderReply(view.review_reply, "复查意见"));
    const heading = el("h3", { id: "case-title", tabindex: "-1" }, "您的信访事项");
    const refresh = el("button", { type: "button", id: "refresh" }, "刷新");
    refresh.addEventListener("click", () => loadCase(false));
    $("case-view").replaceChildren(
      heading,
      dl,
      replies.length ? el("h3", {}, "书面答复") : el("p", {}, "尚无书面答复。"),
      ...replies,
      refresh);
    renderEvaluate(view);
    if (focus) heading.focus();
  }

  // ---- evaluate ----------------------------------------------------------------

  function renderEvaluate(view) {
    const status = [];
    const rated = view.rating_label || RATING_LABELS[view.rating];
    if (rated) status.push(el("p", { id: "rating-shown" }, "您的评价：" + rated));
    if (view.can_rate) status.push(el("p", {}, "请对书面答复作出评价。"));
    if (view.can_request_review) {
      status.push(el("p", {}, "对答复不服的，可以在下方申请复查。"));
    }
    if (!view.can_rate && !view.can_request_review && !rated) {
      status.push(el("p", {}, "书面答复送达后，可以在这里评价或申请复查。"));
    }
    $("evaluate-status").replaceChildren(...status);
    $("rating-box").hidden = !view.can_rate;
    $("review-form").hidden = !view.can_request_review;
  }

  async function rate(event) {
    const button = event.currentTarget;
    const error = $("evaluate-error");
    showError(error, null);
    if (!session) return;
    const buttons = document.querySelectorAll("button.rate");
    buttons.forEach((b) => busy(b, true));
    try {
      const view = await call("POST", "/case/rating", { rating: button.dataset.rating }, session);
      renderCase(view, false);
      $("evaluate-title").focus();
    } catch (e) {
      if (e.code === "session_expired") endSession();
      showError(error, e);
    } finally {
      buttons.forEach((b) => busy(b, false));
    }
  }

  async function requestReview(event) {
    event.preventDefault();
    const error = $("evaluate-error");
    showError(error, null);
    if (missing(["review-reasons"]).length) {
      error.textContent = "请填写申请复查的理由";
      return;
    }
    const button = $("review-button");
    busy(button, true);
    try {
      const view = await call("POST", "/case/review", { reasons: $("review-reasons").value.trim() }, session);
      $("review-reasons").value = "";
      renderCase(view, false);
      $("evaluate-status").prepend(el("p", {}, "复查申请已提交。"));
    } catch (e) {
      if (e.code === "session_expired") endSession();
      showError(error, e);
    } finally {
      busy(button, false);
    }
  }

  // ---- start -------------------------------------------------------------------

  async function start() {
    $("evaluate-title").setAttribute("tabindex", "-1");
    $("office").addEventListener("change", officeChanged);
    $("submit-form").addEventListener("submit", submitPetition);
    $("code-form").addEventListener("submit", requestCode);
    $("session-form").addEventListener("submit", openSession);
    $("review-form").addEventListener("submit", requestReview);
    document.querySelectorAll("button.rate").forEach((b) => b.addEventListener("click", rate));
    try {
      fillOffices(await call("GET", "/offices"));
    } catch (e) {
      showError($("submit-error"), e);
    }
  }

  start();
})();
