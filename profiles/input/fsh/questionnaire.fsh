RuleSet: GradedItem(linkId, text)
* item[+].linkId = "{linkId}"
* item[=].text = "{text}"
* item[=].type = #choice
* item[=].required = true
* item[=].answerValueSet = Canonical(OncoLinkGradeVS)

Instance: oncolink-pro-hebdo
InstanceOf: Questionnaire
Usage: #definition
Title: "Questionnaire hebdomadaire de suivi sous anticancéreux oral"
Description: "Auto-questionnaire rempli chaque semaine par le patient en télésurveillance. Chaque symptôme est gradé de 0 (absent) à 4 (très sévère) ; les réponses sont triées par l'arbre de décision du centre."
* url = $pro-questionnaire
* version = "1.0.0"
* name = "OncoLinkProHebdo"
* status = #active
* experimental = false
* language = #fr-FR
* subjectType = #Patient
* publisher = "Projet Onco'Link FHIR"
* insert GradedItem(diarrhee, [[Diarrhée : selles plus fréquentes ou plus liquides que d'habitude au cours des sept derniers jours]])
* insert GradedItem(nausees-vomissements, [[Nausées ou vomissements]])
* insert GradedItem(mucite, [[Bouche douloureuse : aphtes, rougeurs, difficultés à manger]])
* insert GradedItem(main-pied, [[Paumes des mains ou plantes des pieds rouges, douloureuses ou crevassées]])
* insert GradedItem(eruption, [[Boutons ou éruption sur la peau]])
* insert GradedItem(fatigue, [[Fatigue qui gêne vos activités]])
* insert GradedItem(fievre, [[Fièvre ou frissons]])
* item[+].linkId = "temperature"
* item[=].text = "Température la plus élevée mesurée cette semaine (°C), si vous l'avez prise"
* item[=].type = #decimal
* item[=].required = false
* insert GradedItem(douleur, [[Douleurs nouvelles ou plus fortes]])
* insert GradedItem(dyspnee, [[Essoufflement au repos ou à l'effort]])
* insert GradedItem(saignement, [[Saignements : nez, gencives, urines ou selles]])
* item[+].linkId = "oublis"
* item[=].text = "Prises du traitement oubliées depuis le dernier questionnaire"
* item[=].type = #choice
* item[=].required = true
* item[=].answerValueSet = Canonical(OncoLinkMissedDosesVS)
* item[+].linkId = "commentaire"
* item[=].text = "Voulez-vous ajouter quelque chose pour l'équipe qui vous suit ?"
* item[=].type = #text
* item[=].required = false

Profile: OncoLinkWeeklyPRO
Parent: QuestionnaireResponse
Id: oncolink-pro-response
Title: "Réponse au questionnaire hebdomadaire"
Description: "Réponses du patient au questionnaire hebdomadaire Onco'Link ; la couleur d'alerte est ajoutée par le tri. Les réponses sont contrôlées contre le questionnaire lui-même."
* ^status = #active
* extension contains OncoLinkAlertColourExt named alertColour 0..1
* questionnaire 1..1
* questionnaire obeys oncolink-pro-1
* basedOn only Reference(OncoLinkEpisode)
* subject 1..1
* subject only Reference(OncoLinkPatient)
* authored 1..1
* item 1..*

Invariant: oncolink-pro-1
Description: "La réponse doit porter sur le questionnaire hebdomadaire Onco'Link (avec ou sans version)."
Severity: #error
Expression: "$this = 'https://oncolink.example.org/fhir/Questionnaire/oncolink-pro-hebdo' or startsWith('https://oncolink.example.org/fhir/Questionnaire/oncolink-pro-hebdo|')"
